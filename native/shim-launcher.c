/*
 * containerd-shim-tsrun-v2's entry point. `start` is on every container's critical path, so it
 * is answered here without Node: it finds the group's socket (one shim per containerd namespace
 * by default, per pod or group by annotation, as the runc shim groups), prints its address if a
 * shim already listens there, else binds it and starts the Node daemon with the listener as
 * fd 3. `delete` of a container whose shim already cleaned up answers an empty DeleteResponse at
 * once. Everything else (the daemon, delete, -info, -v) is Node: bin/tsrun-shim.cjs beside us.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef NODE_BIN
#define NODE_BIN "/usr/bin/node"
#endif
#define SOCKET_DIR "/run/containerd/s"

/* ---- SHA-256 (FIPS 180-4), for the socket name ---- */
static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void sha256_hex(const char *msg, size_t len, char out[65]) {
  uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  unsigned char block[64];
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha256_block(h, (const unsigned char *)msg + i);
  size_t rest = len - i;
  memset(block, 0, 64);
  memcpy(block, msg + i, rest);
  block[rest] = 0x80;
  if (rest >= 56) { sha256_block(h, block); memset(block, 0, 64); }
  uint64_t bits = (uint64_t)len * 8;
  for (int j = 0; j < 8; j++) block[63 - j] = (unsigned char)(bits >> (8 * j));
  sha256_block(h, block);
  for (int j = 0; j < 8; j++) sprintf(out + 8 * j, "%08x", h[j]);
}

/* ---- helpers ---- */
static const char *flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') continue;
    a += a[1] == '-' ? 2 : 1;
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0) {
      if (a[n] == '=') return a + n + 1;
      if (a[n] == 0 && i + 1 < argc) return argv[i + 1];
    }
  }
  return NULL;
}

static const char *action(int argc, char **argv) {
  static const char *valued[] = { "namespace", "address", "publish-binary", "id", "bundle", "socket", "debug-socket", NULL };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') return a;
    a += a[1] == '-' ? 2 : 1;
    if (strchr(a, '=')) continue;
    for (int j = 0; valued[j]; j++) if (strcmp(a, valued[j]) == 0) { i++; break; }
  }
  return NULL;
}

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* The string value of "key" in a JSON text (annotation values are plain ids: no escapes). */
static char *json_string(const char *json, const char *key) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(json, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != ':') return NULL;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != '"') return NULL;
  const char *end = strchr(p, '"');
  return end ? strndup(p, (size_t)(end - p)) : NULL;
}

/* ---- the runtime options on start's stdin: `protocol` and `shim_group` of a tsrun options file ---- */
static int pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    unsigned char b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 0;
  }
  return -1;
}

/* Calls fn for every length-delimited field of a message; -1 when it is not valid protobuf. */
static int pb_fields(const unsigned char *p, size_t len, void (*fn)(uint64_t field, const unsigned char *v, size_t n, void *arg), void *arg) {
  const unsigned char *end = p + len;
  while (p < end) {
    uint64_t key, v;
    if (pb_varint(&p, end, &key)) return -1;
    switch (key & 7) {
    case 0: if (pb_varint(&p, end, &v)) return -1; break;
    case 1: if (end - p < 8) return -1; p += 8; break;
    case 5: if (end - p < 4) return -1; p += 4; break;
    case 2:
      if (pb_varint(&p, end, &v) || v > (uint64_t)(end - p)) return -1;
      if (fn) fn(key >> 3, p, (size_t)v, arg);
      p += v;
      break;
    default: return -1;
    }
  }
  return 0;
}

struct any { const unsigned char *type_url, *value; size_t type_len, value_len; int has_other; };
static void any_field(uint64_t f, const unsigned char *v, size_t n, void *arg) {
  struct any *a = arg;
  if (f == 1) { a->type_url = v; a->type_len = n; }
  else if (f == 2) { a->value = v; a->value_len = n; }
  else a->has_other = 1;
}

struct rtopts { const unsigned char *path, *body; size_t path_len, body_len; };
static void rtopts_field(uint64_t f, const unsigned char *v, size_t n, void *arg) {
  struct rtopts *o = arg;
  if (f == 2) { o->path = v; o->path_len = n; }
  else if (f == 3) { o->body = v; o->body_len = n; }
}

/* What `start` needs of the runtime options: the transport, and how containers share shims. */
struct launch_options { int grpc; char group[16]; int bootstrap_params; };

/* The string value of `key = "v"` (TOML) or `"key": "v"` (JSON) in an options file's text. */
static int text_value(const char *t, const char *key, char *out, size_t outlen) {
  size_t klen = strlen(key);
  for (const char *p = t; (p = strstr(p, key)); p += klen) {
    const char *q = p;
    while (q > t && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '"')) q--;
    if (q != t && q[-1] != '\n' && q[-1] != '{' && q[-1] != ',') continue;
    const char *r = p + klen;
    if (*r == '"') r++;
    while (*r == ' ' || *r == '\t') r++;
    if (*r != '=' && *r != ':') continue;
    r++;
    while (*r == ' ' || *r == '\t') r++;
    if (*r != '"' && *r != '\'') continue;
    const char *end = strchr(r + 1, *r);
    if (!end || (size_t)(end - r - 1) >= outlen) return 0;
    memcpy(out, r + 1, (size_t)(end - r - 1));
    out[end - r - 1] = 0;
    return 1;
  }
  return 0;
}

static void text_options(const char *t, struct launch_options *o) {
  char v[16];
  /* spelled as the proto spells options, or as CRI's config.toml spells runc's */
  if (text_value(t, "protocol", v, sizeof v) || text_value(t, "Protocol", v, sizeof v)) o->grpc = strcmp(v, "grpc") == 0;
  if (!text_value(t, "shim_group", o->group, sizeof o->group) && !text_value(t, "ShimGroup", o->group, sizeof o->group)) o->group[0] = 0;
}

static void any_options(const unsigned char *v, size_t n, struct launch_options *lo) {
  struct any a = { 0 };
  static const char want[] = "runtimeoptions.v1.Options";
  if (pb_fields(v, n, any_field, &a) || a.type_len != sizeof want - 1 || memcmp(a.type_url, want, sizeof want - 1) != 0) return;
  struct rtopts o = { 0 };
  if (pb_fields(a.value, a.value_len, rtopts_field, &o)) return;
  char *text;
  if (o.body_len) text = strndup((const char *)o.body, o.body_len);
  else if (o.path_len) {
    char *path = strndup((const char *)o.path, o.path_len);
    text = read_file(path, NULL);
    free(path);
  } else return;
  if (text) text_options(text, lo);
  free(text);
}

/* containerd 2.3+ sends a BootstrapParams whose extensions (field 8) hold the options Any */
static void bootstrap_field(uint64_t f, const unsigned char *v, size_t n, void *arg) {
  if (f != 8) return;
  struct any ext = { 0 }; /* Extension{1 value Any}: its field 1 holds the Any's bytes */
  if (pb_fields(v, n, any_field, &ext) == 0 && ext.type_url) any_options(ext.type_url, ext.type_len, arg);
}

static void stdin_options(const unsigned char *in, size_t n, struct launch_options *o) {
  struct any a = { 0 };
  if (n == 0 || pb_fields(in, n, any_field, &a)) return;
  if (!a.has_other) any_options(in, n, o);
  else {
    o->bootstrap_params = 1;
    pb_fields(in, n, bootstrap_field, o);
  }
}

/* ---- the group shim's control socket: a running shim only serves a new container once it has
 * reserved a place for it. Without that, the shim could exit (its last container deleted) between
 * this probe and containerd's Create, and the new container would find nobody at the address. ---- */
static size_t pb_put_varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  do { out[n] = (unsigned char)(v & 0x7f); v >>= 7; if (v) out[n] |= 0x80; n++; } while (v);
  return n;
}

static size_t pb_put_bytes(unsigned char *out, unsigned field, const void *v, size_t len) {
  size_t n = pb_put_varint(out, (uint64_t)field << 3 | 2);
  n += pb_put_varint(out + n, len);
  memcpy(out + n, v, len);
  return n + len;
}

static int read_full(int fd, unsigned char *buf, size_t len) {
  for (size_t n = 0; n < len;) {
    ssize_t r = read(fd, buf + n, len - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    n += (size_t)r;
  }
  return 0;
}

struct reply { int has_status; };
static void response_field(uint64_t f, const unsigned char *v, size_t n, void *arg) {
  (void)v;
  /* Response{1 status google.rpc.Status, 2 payload}: a status with any content is an error */
  if (f == 1 && n > 0) ((struct reply *)arg)->has_status = 1;
}

/* 0 when the shim listening at `ctl` answered tsrun.shim.v1.Group/Reserve for `id` with success */
static int reserve(const char *ctl, const char *id) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", ctl);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* a shim still booting answers once Node is up; a stuck one is given up on */
  struct timeval tv = { .tv_sec = 20 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
  size_t idlen = strlen(id);
  unsigned char *payload = malloc(idlen + 16), *frame = malloc(idlen + 128);
  size_t plen = pb_put_bytes(payload, 1, id, idlen);
  unsigned char *req = frame + 10;
  size_t rlen = pb_put_bytes(req, 1, "tsrun.shim.v1.Group", 19);
  rlen += pb_put_bytes(req + rlen, 2, "Reserve", 7);
  rlen += pb_put_bytes(req + rlen, 3, payload, plen);
  /* ttrpc frame: length and stream id (big-endian), type 1 (request), flags 0 */
  frame[0] = (unsigned char)(rlen >> 24); frame[1] = (unsigned char)(rlen >> 16); frame[2] = (unsigned char)(rlen >> 8); frame[3] = (unsigned char)rlen;
  frame[4] = frame[5] = frame[6] = 0; frame[7] = 1;
  frame[8] = 1; frame[9] = 0;
  int ok = -1;
  unsigned char head[10];
  if (write(fd, frame, rlen + 10) == (ssize_t)(rlen + 10) && read_full(fd, head, 10) == 0 && head[8] == 2) {
    size_t len = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
    unsigned char *body = len <= 65536 ? malloc(len ? len : 1) : NULL;
    struct reply r = { 0 };
    if (body && read_full(fd, body, len) == 0 && pb_fields(body, len, response_field, &r) == 0 && !r.has_status) ok = 0;
    free(body);
  }
  free(payload);
  free(frame);
  close(fd);
  return ok;
}

/* ---- which containerd runs `start`: 1.7 accepts a gRPC shim's bootstrap only as version 2 (it has no
 * other), 2.x only as version 3 (its gRPC client is task v3 only), and both send the same arguments and
 * environment. So ask containerd itself: containerd.services.version.v1.Version/Version on its gRPC
 * socket (-address), one unary call over cleartext HTTP/2, as `ctr version` makes it. ---- */
static size_t h2_frame(unsigned char *out, unsigned type, unsigned flags, unsigned stream, const void *payload, size_t len) {
  out[0] = (unsigned char)(len >> 16); out[1] = (unsigned char)(len >> 8); out[2] = (unsigned char)len;
  out[3] = (unsigned char)type; out[4] = (unsigned char)flags;
  out[5] = (unsigned char)(stream >> 24); out[6] = (unsigned char)(stream >> 16); out[7] = (unsigned char)(stream >> 8); out[8] = (unsigned char)stream;
  if (len) memcpy(out + 9, payload, len);
  return 9 + len;
}

/* an HPACK "literal header field without indexing, new name", neither string Huffman-coded (all < 127 bytes) */
static size_t hpack_literal(unsigned char *out, const char *name, const char *value) {
  size_t n = 0, nl = strlen(name), vl = strlen(value);
  out[n++] = 0;
  out[n++] = (unsigned char)nl; memcpy(out + n, name, nl); n += nl;
  out[n++] = (unsigned char)vl; memcpy(out + n, value, vl); n += vl;
  return n;
}

struct version_reply { char version[64]; };
static void version_field(uint64_t f, const unsigned char *v, size_t n, void *arg) {
  struct version_reply *r = arg;
  /* VersionResponse{1 version, 2 revision} */
  if (f == 1 && n < sizeof r->version) { memcpy(r->version, v, n); r->version[n] = 0; }
}

/* containerd's version as major * 1000 + minor (1007 for 1.7.24), or 0 when it could not be asked */
static int containerd_version(const char *address) {
  if (strncmp(address, "unix://", 7) == 0) address += 7;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(address) >= sizeof sa.sun_path) return 0;
  strcpy(sa.sun_path, address);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct timeval tv = { .tv_sec = 2 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return 0; }

  unsigned char req[512], block[384];
  size_t b = 0;
  b += hpack_literal(block + b, ":method", "POST");
  b += hpack_literal(block + b, ":scheme", "http");
  b += hpack_literal(block + b, ":path", "/containerd.services.version.v1.Version/Version");
  b += hpack_literal(block + b, ":authority", "localhost");
  b += hpack_literal(block + b, "content-type", "application/grpc");
  b += hpack_literal(block + b, "te", "trailers");
  static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static const unsigned char empty_message[5] = { 0 }; /* uncompressed, length 0: an empty VersionRequest */
  size_t n = sizeof preface - 1;
  memcpy(req, preface, n);
  n += h2_frame(req + n, 4 /* SETTINGS */, 0, 0, NULL, 0);
  n += h2_frame(req + n, 1 /* HEADERS */, 4 /* END_HEADERS */, 1, block, b);
  n += h2_frame(req + n, 0 /* DATA */, 1 /* END_STREAM */, 1, empty_message, sizeof empty_message);
  int version = 0;
  if (write(fd, req, n) != (ssize_t)n) { close(fd); return 0; }

  /* the reply's gRPC message, gathered from stream 1's DATA frames; everything else is skipped */
  unsigned char message[256];
  size_t have = 0;
  for (;;) {
    unsigned char head[9];
    if (read_full(fd, head, 9) != 0) break;
    size_t len = (size_t)head[0] << 16 | (size_t)head[1] << 8 | head[2];
    unsigned type = head[3], flags = head[4];
    uint32_t stream = ((uint32_t)head[5] << 24 | (uint32_t)head[6] << 16 | (uint32_t)head[7] << 8 | head[8]) & 0x7fffffff;
    if (len > 16384) break;
    unsigned char payload[16384];
    if (read_full(fd, payload, len) != 0) break;
    if (type == 4 && !(flags & 1)) { /* the server's SETTINGS: acknowledged */
      unsigned char ack[9];
      h2_frame(ack, 4, 1, 0, NULL, 0);
      if (write(fd, ack, 9) != 9) break;
    }
    if (type == 7 /* GOAWAY */ || (type == 3 /* RST_STREAM */ && stream == 1)) break;
    if (type == 0 && stream == 1) {
      size_t start = 0, take = len;
      if (flags & 8 /* PADDED */) {
        if (len == 0 || (size_t)payload[0] + 1 > len) break;
        start = 1;
        take = len - 1 - payload[0];
      }
      if (have + take > sizeof message) break;
      memcpy(message + have, payload + start, take);
      have += take;
    }
    if (have >= 5) {
      size_t mlen = (size_t)message[1] << 24 | (size_t)message[2] << 16 | (size_t)message[3] << 8 | message[4];
      if (message[0] != 0 || mlen > sizeof message - 5) break;
      if (have < 5 + mlen) continue;
      struct version_reply r = { "" };
      if (pb_fields(message + 5, mlen, version_field, &r) == 0) {
        const char *v = r.version[0] == 'v' ? r.version + 1 : r.version;
        char *dot;
        long major = strtol(v, &dot, 10), minor = *dot == '.' ? strtol(dot + 1, NULL, 10) : 0;
        if (major > 0 && major < 1000 && minor >= 0 && minor < 1000) version = (int)(major * 1000 + minor);
      }
      break;
    }
    /* the call ended (trailers or an error) before any message */
    if (stream == 1 && (flags & 1 /* END_STREAM */)) break;
  }
  close(fd);
  return version;
}

/* The group's lock: held while deciding that no shim serves the group and binding a new one, and
 * by a shim that is exiting (which removes the file). Retaken when the file was replaced meanwhile. */
static int lock_group(const char *path) {
  for (;;) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (flock(fd, LOCK_EX) != 0 && errno != EINTR) { close(fd); return -1; }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev) return fd;
    close(fd);
  }
}

static int listen_at(const char *path) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no CLOEXEC: the daemon inherits it */
  if (fd < 0) { perror("socket"); return -1; }
  unlink(path); /* stale: nobody answered there */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { fprintf(stderr, "bind %s: %s\n", path, strerror(errno)); close(fd); return -1; }
  chmod(path, 0600);
  if (listen(fd, 128) != 0) { perror("listen"); close(fd); return -1; }
  return fd;
}

/* TSRUN_TIMING=FILE (bench/containerd-shim.mjs): one JSON line per `start`, on the monotonic clock
 * of the Node records (runtime/timing.ts), so that the launcher's part shows beside the daemon's. */
static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void write_timing(const char *action, const char *id, unsigned long long begin, unsigned long long forked, unsigned long long end) {
  const char *file = getenv("TSRUN_TIMING");
  if (!file || !*file) return;
  int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  char forked_mark[64] = "";
  if (forked) snprintf(forked_mark, sizeof forked_mark, ",[\"forked\",\"%llu\"]", forked);
  dprintf(fd, "{\"argv\":[\"%s\",\"-id\",\"%s\"],\"pid\":%d,\"marks\":[[\"begin\",\"%llu\"]%s],\"exit\":\"%llu\"}\n",
          action, id, (int)getpid(), begin, forked_mark, end);
  close(fd);
}

static void exec_node(int argc, char **argv) {
  char self[PATH_MAX], script[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) { perror("readlink /proc/self/exe"); exit(1); }
  self[n] = 0;
  snprintf(script, sizeof script, "%s/tsrun-shim.cjs", dirname(self));
  /* tsrun speaks no TLS, and the variable costs ~80 ms per Node start */
  unsetenv("NODE_EXTRA_CA_CERTS");
  char **args = calloc((size_t)argc + 3, sizeof(char *));
  args[0] = (char *)NODE_BIN;
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execv(NODE_BIN, args);
  fprintf(stderr, "containerd-shim-tsrun-v2: exec %s: %s\n", NODE_BIN, strerror(errno));
  exit(1);
}

static void write_address(const char *address) {
  int fd = open(".address", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, address, strlen(address));
  close(fd);
  if (w == (ssize_t)strlen(address)) rename(".address", "address");
}

static int start(int argc, char **argv) {
  unsigned long long begin = now_ns(), forked = 0;
  const char *id = flag(argc, argv, "id") ?: "";
  const char *ns = flag(argc, argv, "namespace");
  const char *address = flag(argc, argv, "address");
  if (!ns || !address) { fprintf(stderr, "containerd-shim-tsrun-v2: start needs -namespace and -address\n"); return 1; }
  /* containerd writes the runtime options to stdin: take them all (the daemon reads them again in
   * Create); only the transport and the grouping are decided here */
  size_t in_len = 0, in_cap = 4096;
  unsigned char *in = malloc(in_cap);
  for (;;) {
    if (in_len == in_cap) in = realloc(in, in_cap *= 2);
    ssize_t r = read(0, in + in_len, in_cap - in_len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    in_len += (size_t)r;
  }
  struct launch_options lo = { 0 };
  stdin_options(in, in_len, &lo);
  free(in);
  int grpc = lo.grpc;

  /* shim_group: one shim for the namespace (the default), per pod (the runc shim's grouping
   * annotations), or per container */
  char *group = NULL;
  if (strcmp(lo.group, "pod") == 0) {
    char *config = read_file("config.json", NULL);
    if (config) {
      group = json_string(config, "io.containerd.runc.v2.group");
      if (!group) group = json_string(config, "io.kubernetes.cri.sandbox-id");
    }
    free(config);
  } else if (strcmp(lo.group, "container") == 0) {
    size_t n = strlen(id) + 16;
    group = malloc(n);
    snprintf(group, n, "container/%s", id);
  } else if (lo.group[0] && strcmp(lo.group, "namespace") != 0) {
    fprintf(stderr, "containerd-shim-tsrun-v2: tsrun shim options: shim_group must be \"namespace\", \"pod\" or \"container\", not \"%s\"\n", lo.group);
    return 1;
  }
  const char *g = group ? group : "tsrun-namespace";
  /* a gRPC shim has a socket of its own: a group's ttrpc shim cannot answer it */
  size_t len = strlen(address) + strlen(ns) + strlen(g) + 8;
  char *key = malloc(len);
  snprintf(key, len, "%s/%s/%s%s", address, ns, g, grpc ? "/grpc" : "");
  char hex[65];
  sha256_hex(key, strlen(key), hex);

  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", SOCKET_DIR, hex);
  char out[sizeof sa.sun_path + 8];
  snprintf(out, sizeof out, "unix://%s", sa.sun_path);
  /* containerd 1.7+ reads JSON, and dials a gRPC shim's bare path (net.Dial("unix", address) first).
   * Its version must be 2 for 1.7 (which rejects anything newer) and 3 for 2.x (whose gRPC client
   * is task v3 only; 2.3+ sends BootstrapParams on stdin); both then call task v3. A containerd
   * that cannot be asked is taken for 2.x. A plain unix:// address means ttrpc everywhere. */
  char reply[sizeof out + 64];
  if (grpc) {
    int containerd = lo.bootstrap_params ? 0 : containerd_version(address);
    if (containerd && containerd < 1007) {
      /* 1.6 would take the JSON for a ttrpc address and fail obscurely later */
      fprintf(stderr, "containerd-shim-tsrun-v2: protocol = \"grpc\" needs containerd 1.7 or later (this is %d.%d): use ttrpc\n", containerd / 1000, containerd % 1000);
      return 1;
    }
    int version = containerd && containerd < 2000 ? 2 : 3;
    snprintf(reply, sizeof reply, "{\"version\":%d,\"address\":\"%s\",\"protocol\":\"grpc\"}", version, sa.sun_path);
  } else snprintf(reply, sizeof reply, "%s", out);
  char ctl[sizeof sa.sun_path + 8], lock[sizeof sa.sun_path + 8];
  snprintf(ctl, sizeof ctl, "%s/%s.ctl", SOCKET_DIR, hex);
  snprintf(lock, sizeof lock, "%s/%s.lock", SOCKET_DIR, hex);

  mkdir("/run/containerd", 0711);
  mkdir(SOCKET_DIR, 0711);
  /* the group's shim is up and has a place for this container: it serves it too */
  if (reserve(ctl, id) == 0) goto serve;
  int lockfd = lock_group(lock);
  if (lockfd < 0) { fprintf(stderr, "lock %s: %s\n", lock, strerror(errno)); return 1; }
  /* another start may have brought the group's shim up while this one waited for the lock */
  if (reserve(ctl, id) == 0) { close(lockfd); goto serve; }
  int fd = listen_at(sa.sun_path);
  int ctlfd = fd < 0 ? -1 : listen_at(ctl);
  if (fd < 0 || ctlfd < 0) { close(lockfd); return 1; }

  pid_t pid = fork();
  if (pid < 0) { perror("fork"); close(lockfd); return 1; }
  if (pid == 0) {
    setsid();
    /* the task service's listener as fd 3, the control socket's as fd 4 */
    int a = fcntl(fd, F_DUPFD, 10), b = fcntl(ctlfd, F_DUPFD, 10);
    dup2(a, 3); dup2(b, 4);
    close(a); close(b);
    if (fd > 4) close(fd);
    if (ctlfd > 4) close(ctlfd);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0); dup2(null, 1); dup2(null, 2);
    if (null > 4) close(null);
    setenv("TSRUN_SHIM_SOCKET", sa.sun_path, 1);
    setenv("TSRUN_SHIM_CONTROL", ctl, 1);
    setenv("TSRUN_SHIM_LOCK", lock, 1);
    if (grpc) setenv("TSRUN_SHIM_PROTOCOL", "grpc", 1);
    else unsetenv("TSRUN_SHIM_PROTOCOL");
    char *args[] = { argv[0], "-namespace", (char *)ns, "-id", (char *)id, "-address", (char *)address, NULL };
    exec_node(7, args);
  }
  forked = now_ns();
  close(fd);
  close(ctlfd);
  close(lockfd);
serve:
  /* containerd 1.7 finds a shim again after a restart by parsing B/address as start's reply (2.x
   * writes B/bootstrap.json itself) */
  write_address(grpc ? reply : out);
  fputs(reply, stdout);
  write_timing("start", id, begin, forked, now_ns());
  return 0;
}

/* Whether something accepts connections at a unix socket path. */
static int accepts(const char *path) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 1; /* cannot tell: take it for alive */
  int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || (errno != ECONNREFUSED && errno != ENOENT);
  close(fd);
  return ok;
}

/* The group shim's socket that B/address names (unix://PATH, or start's JSON reply for gRPC),
 * if it is one of ours. */
static char *group_socket_of(const char *bundle) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/address", bundle);
  char *text = read_file(path, NULL);
  if (!text) return NULL;
  char *address = text[0] == '{' ? json_string(text, "address") : strdup(text);
  free(text);
  if (!address) return NULL;
  address[strcspn(address, " \t\r\n")] = 0;
  const char *sock = strncmp(address, "unix://", 7) == 0 ? address + 7 : address;
  size_t dir = strlen(SOCKET_DIR);
  char *out = NULL;
  if (strncmp(sock, SOCKET_DIR "/", dir + 1) == 0 && sock[dir + 1] && !strchr(sock + dir + 1, '/')) out = strdup(sock);
  free(address);
  return out;
}

/* A shim that died before its first container had a record (its daemon never came up, or was
 * killed at once) leaves its sockets: gone once nobody accepts there. Under the group's lock, as
 * a shim exiting removes them, and checked again there: a `start` may have bound them anew. */
static void remove_dead_group_socket(const char *path) {
  if (accepts(path)) return;
  char ctl[PATH_MAX], lock[PATH_MAX];
  snprintf(ctl, sizeof ctl, "%s.ctl", path);
  snprintf(lock, sizeof lock, "%s.lock", path);
  int fd = open(lock, O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    int i = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if ((errno != EWOULDBLOCK && errno != EINTR) || ++i == 200) { close(fd); return; }
      usleep(5000);
    }
  }
  if (!accepts(path)) {
    unlink(path);
    unlink(ctl);
    if (fd >= 0) unlink(lock);
  }
  if (fd >= 0) close(fd);
}

int idmap_mount_main(int argc, char **argv);

int main(int argc, char **argv) {
  const char *act = action(argc, argv);
  if (act && strcmp(act, "start") == 0) return start(argc, argv);
  if (act && strcmp(act, "idmap-mount") == 0) return idmap_mount_main(argc, argv);
  if (act && strcmp(act, "delete") == 0) {
    const char *bundle = flag(argc, argv, "bundle");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/options.json", bundle ? bundle : ".");
    /* the shim deleted the container and its record: an empty DeleteResponse (valid protobuf) */
    if (access(path, F_OK) != 0 && errno == ENOENT) {
      unsigned long long t = now_ns();
      char *sock = group_socket_of(bundle ? bundle : ".");
      if (sock) remove_dead_group_socket(sock);
      free(sock);
      write_timing("delete", flag(argc, argv, "id") ?: "", t, 0, t);
      return 0;
    }
  }
  exec_node(argc, argv);
  return 1;
}
