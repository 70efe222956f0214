/*
 * Decoding and validation of the init plan. Everything is checked here,
 * before the executor changes anything: a plan that fails any check is
 * rejected as a whole, so the flow code may trust what it gets.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "executor.h"

#define MAX_MOUNTS 65536
#define MAX_ENV 65536
#define MAX_ARGS 65536
#define MAX_PATH_RECS 65536
#define MAX_NS_RECS 64
#define MAX_GIDS 65536
#define MAX_CGROUPS 64
#define MAX_AFFINITY_BYTES 8192
#define MAX_SECCOMP_INSNS 4096
#define MAX_HOOKS 256

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define NS_ALL (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
		CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)
#define NS_CLONABLE (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
		     CLONE_NEWNET)

#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)
/* Flags a MOUNT record may carry; MS_MOVE, MS_REMOUNT and the propagation
 * types have their own fields or records. */
#define MS_ALLOWED (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_MANDLOCK | \
		    MS_DIRSYNC | MS_NOSYMFOLLOW | MS_NOATIME | MS_NODIRATIME | MS_BIND | MS_REC | \
		    MS_SILENT | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME)
#define MOUNT_ATTR_ALLOWED (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | \
			    MOUNT_ATTR_NOEXEC | MOUNT_ATTR__ATIME | MOUNT_ATTR_NODIRATIME | \
			    MOUNT_ATTR_NOSYMFOLLOW)
#define SECCOMP_FLAGS_ALLOWED (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | \
			       SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_NEW_LISTENER | \
			       (1u << 4) /* TSYNC_ESRCH */ | \
			       (1u << 5) /* WAIT_KILLABLE_RECV */)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int plan_read(int fd, uint8_t **body, uint32_t *len)
{
	uint8_t hdr[PLAN_HEADER_LEN];
	uint32_t version, n;
	uint8_t *b;

	if (read_full(fd, hdr, sizeof hdr) < 0)
		return errno ? fail_errno(errno, "invalid plan: read header")
			     : fail("invalid plan: truncated header");
	if (memcmp(hdr, PLAN_MAGIC, 8) != 0)
		return fail("invalid plan: bad magic");
	version = le32(hdr + 8);
	if (version != PLAN_VERSION)
		return fail("invalid plan: unsupported version %u (want %u)", version, PLAN_VERSION);
	n = le32(hdr + 12);
	if (n > PLAN_MAX_BODY)
		return fail("invalid plan: body of %u bytes exceeds %u", n, PLAN_MAX_BODY);
	b = xmalloc(n);
	if (n && read_full(fd, b, n) < 0) {
		free(b);
		return errno ? fail_errno(errno, "invalid plan: read body")
			     : fail("invalid plan: truncated body (want %u bytes)", n);
	}
	*body = b;
	*len = n;
	return 0;
}

/* ---- payload cursor ---------------------------------------------------- */

struct cur {
	const uint8_t *p;
	uint32_t left;
	const char *rec; /* record name for messages */
	const char *field;
};

static int need(struct cur *c, uint32_t n)
{
	if (c->left < n)
		return fail("invalid plan: %s: truncated at %s", c->rec, c->field);
	return 0;
}

static int g_u32(struct cur *c, const char *field, uint32_t *v)
{
	c->field = field;
	if (need(c, 4) < 0)
		return -1;
	*v = le32(c->p);
	c->p += 4;
	c->left -= 4;
	return 0;
}

static int g_i32(struct cur *c, const char *field, int32_t *v)
{
	uint32_t u;
	if (g_u32(c, field, &u) < 0)
		return -1;
	memcpy(v, &u, 4);
	return 0;
}

static int g_u64(struct cur *c, const char *field, uint64_t *v)
{
	c->field = field;
	if (need(c, 8) < 0)
		return -1;
	*v = (uint64_t)le32(c->p) | (uint64_t)le32(c->p + 4) << 32;
	c->p += 8;
	c->left -= 8;
	return 0;
}

static int g_bytes(struct cur *c, const char *field, uint8_t **out, uint32_t *outlen)
{
	uint32_t n;
	if (g_u32(c, field, &n) < 0)
		return -1;
	if (need(c, n) < 0)
		return -1;
	*out = xmalloc(n);
	memcpy(*out, c->p, n);
	*outlen = n;
	c->p += n;
	c->left -= n;
	return 0;
}

static int g_str(struct cur *c, const char *field, char **out)
{
	uint32_t n;
	char *s;
	if (g_u32(c, field, &n) < 0)
		return -1;
	if (n > PLAN_MAX_STR)
		return fail("invalid plan: %s: %s is %u bytes long (max %u)", c->rec, field, n,
			    PLAN_MAX_STR);
	if (need(c, n) < 0)
		return -1;
	if (memchr(c->p, 0, n))
		return fail("invalid plan: %s: %s contains a NUL byte", c->rec, field);
	s = xmalloc((size_t)n + 1);
	memcpy(s, c->p, n);
	s[n] = 0;
	*out = s;
	c->p += n;
	c->left -= n;
	return 0;
}

static int g_u32_arr(struct cur *c, const char *field, uint32_t max, uint32_t **out, uint32_t *count)
{
	uint32_t n;
	if (g_u32(c, field, &n) < 0)
		return -1;
	if (n > max)
		return fail("invalid plan: %s: %u %s (max %u)", c->rec, n, field, max);
	if (need(c, n * 4) < 0)
		return -1;
	*out = xcalloc(n, 4);
	for (uint32_t i = 0; i < n; i++)
		(*out)[i] = le32(c->p + 4 * i);
	*count = n;
	c->p += 4 * n;
	c->left -= 4 * n;
	return 0;
}

/* A counted list of strings, NULL-terminated for execve. */
static int g_str_list(struct cur *c, const char *field, uint32_t max, char ***out, uint32_t *count)
{
	uint32_t n;
	if (g_u32(c, field, &n) < 0)
		return -1;
	if (n > max)
		return fail("invalid plan: %s: %u %s (max %u)", c->rec, n, field, max);
	/* Each string takes at least its 4-byte length: a bogus count cannot make us allocate much. */
	if (need(c, n * 4) < 0)
		return -1;
	*out = xcalloc((size_t)n + 1, sizeof(char *));
	for (uint32_t i = 0; i < n; i++)
		if (g_str(c, field, &(*out)[i]) < 0)
			return -1;
	*count = n;
	return 0;
}

/* ---- value checks ------------------------------------------------------ */

static int check_container_path(const char *rec, const char *field, const char *path)
{
	const char *s = path;
	if (path[0] != '/')
		return fail("invalid plan: %s: %s %s is not absolute", rec, field,
			    path[0] ? path : "\"\"");
	if (strlen(path) >= 4096)
		return fail("invalid plan: %s: %s is too long", rec, field);
	while (*s) {
		const char *e;
		while (*s == '/')
			s++;
		e = s;
		while (*e && *e != '/')
			e++;
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return fail("invalid plan: %s: %s %s has a \"..\" component", rec, field, path);
		s = e;
	}
	return 0;
}

static int check_host_path(const char *rec, const char *field, const char *path)
{
	if (path[0] != '/')
		return fail("invalid plan: %s: %s %s is not absolute", rec, field,
			    path[0] ? path : "\"\"");
	if (strlen(path) >= 4096)
		return fail("invalid plan: %s: %s is too long", rec, field);
	return 0;
}

static int check_propagation(const char *rec, uint64_t v)
{
	uint64_t type = v & MS_PROPAGATION;
	if (v == 0)
		return 0;
	if ((v & ~(uint64_t)(MS_PROPAGATION | MS_REC)) || !type || (type & (type - 1)))
		return fail("invalid plan: %s: bad propagation 0x%llx", rec, (unsigned long long)v);
	return 0;
}

static int single_ns_flag(uint32_t f)
{
	return f && !(f & (f - 1)) && (f & NS_ALL);
}

static int check_sysctl_key(const char *key)
{
	const char *s = key;
	if (!*key)
		return fail("invalid plan: SYSCTL: empty key");
	if (strchr(key, '/'))
		return fail("invalid plan: SYSCTL: key %s contains '/'", key);
	while (1) {
		const char *e = strchr(s, '.');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0)
			return fail("invalid plan: SYSCTL: key %s has an empty component", key);
		if (!e)
			break;
		s = e + 1;
	}
	return 0;
}

/* ---- record decoding ---------------------------------------------------- */

static const char *tag_name(uint16_t tag)
{
	switch (tag) {
	case T_MODE: return "MODE";
	case T_NS_JOIN: return "NS_JOIN";
	case T_NS_CLONE: return "NS_CLONE";
	case T_TIMENS_OFFSETS: return "TIMENS_OFFSETS";
	case T_UID_MAP: return "UID_MAP";
	case T_GID_MAP: return "GID_MAP";
	case T_CGROUP_PROCS: return "CGROUP_PROCS";
	case T_EXEC_FIFO: return "EXEC_FIFO";
	case T_NS_UNSHARE: return "NS_UNSHARE";
	case T_IDMAP_USERNS: return "IDMAP_USERNS";
	case T_IDMAP_USERNS_PATH: return "IDMAP_USERNS_PATH";
	case T_ROOTFS: return "ROOTFS";
	case T_MOUNT: return "MOUNT";
	case T_SYMLINK: return "SYMLINK";
	case T_SYMLINK_REPLACE: return "SYMLINK_REPLACE";
	case T_MKNOD: return "MKNOD";
	case T_BIND_DEVICE: return "BIND_DEVICE";
	case T_MKDIR: return "MKDIR";
	case T_MKDIR_LATE: return "MKDIR_LATE";
	case T_REMOUNT_READONLY: return "REMOUNT_READONLY";
	case T_MOUNT_IDMAP: return "MOUNT_IDMAP";
	case T_CHANGE_ROOT: return "CHANGE_ROOT";
	case T_ROOT_READONLY: return "ROOT_READONLY";
	case T_MASK_PATH: return "MASK_PATH";
	case T_READONLY_PATH: return "READONLY_PATH";
	case T_SYSCTL: return "SYSCTL";
	case T_HOSTNAME: return "HOSTNAME";
	case T_DOMAINNAME: return "DOMAINNAME";
	case T_RLIMIT: return "RLIMIT";
	case T_OOM_SCORE_ADJ: return "OOM_SCORE_ADJ";
	case T_PERSONALITY: return "PERSONALITY";
	case T_SCHEDULER: return "SCHEDULER";
	case T_IOPRIO: return "IOPRIO";
	case T_CPU_AFFINITY: return "CPU_AFFINITY";
	case T_NO_NEW_PRIVS: return "NO_NEW_PRIVS";
	case T_USER: return "USER";
	case T_CAPS: return "CAPS";
	case T_SESSION_KEYRING: return "SESSION_KEYRING";
	case T_LSM_LABEL: return "LSM_LABEL";
	case T_CONSOLE: return "CONSOLE";
	case T_CWD: return "CWD";
	case T_ENV: return "ENV";
	case T_ARG: return "ARG";
	case T_PRESERVE_FDS: return "PRESERVE_FDS";
	case T_SECCOMP: return "SECCOMP";
	case T_HOOK_BARRIER: return "HOOK_BARRIER";
	case T_HOOK_CREATE_CONTAINER: return "HOOK_CREATE_CONTAINER";
	case T_HOOK_START_CONTAINER: return "HOOK_START_CONTAINER";
	case T_SECCOMP_LISTENER: return "SECCOMP_LISTENER";
	case T_RELEASE_BARRIER: return "RELEASE_BARRIER";
	case T_PIDNS_LATE: return "PIDNS_LATE";
	case T_IDMAP_TOOLS: return "IDMAP_TOOLS";
	default: return NULL;
	}
}

/* A procfs mount made by C1 (in the host's pid namespace) without the
 * joined pid namespace would show the container the host's processes: with
 * PIDNS_LATE every one must carry the option, and only then. */
static int check_pidns_late(const struct plan *p)
{
	const struct rec *l = p->pidns_late;
	if (l && p->mode != MODE_INIT)
		return fail("invalid plan: PIDNS_LATE not allowed in exec mode");
	if (l && !(p->joined_flags & CLONE_NEWPID))
		return fail("invalid plan: PIDNS_LATE without a joined pid namespace");
	/* C1 could not enter a pid namespace from a user namespace of its own. */
	if (l && (p->clone_flags & CLONE_NEWUSER))
		return fail("invalid plan: PIDNS_LATE with a new user namespace");
	if (l && p->seccomp_listener)
		return fail("invalid plan: PIDNS_LATE with SECCOMP_LISTENER");
	for (size_t i = 0; i < p->nrecs; i++) {
		const struct r_mount *m = &p->recs[i].u.mount;
		int proc;
		if (p->recs[i].tag != T_MOUNT)
			continue;
		proc = !(m->options & MOUNT_OPT_BIND) && strcmp(m->fstype, "proc") == 0;
		if ((m->options & MOUNT_OPT_PROC_PIDNS) && (!proc || !l))
			return fail("invalid plan: MOUNT %s: joined pid namespace option without PIDNS_LATE or on a mount that is not procfs",
				    m->target);
		if (l && proc && !(m->options & MOUNT_OPT_PROC_PIDNS))
			return fail("invalid plan: MOUNT %s: procfs without the joined pid namespace option (PIDNS_LATE)",
				    m->target);
	}
	return 0;
}

/* Stage groups, in the order they must appear (see PLAN-FORMAT.md,
 * "Record order"). */
static int tag_stage(uint16_t tag)
{
	if (tag == T_MODE)
		return 0;
	if ((tag >= T_NS_JOIN && tag <= T_EXEC_FIFO) || tag == T_IDMAP_USERNS ||
	    tag == T_IDMAP_USERNS_PATH || tag == T_RELEASE_BARRIER || tag == T_PIDNS_LATE ||
	    tag == T_IDMAP_TOOLS)
		return 1;
	if (tag == T_NS_UNSHARE)
		return 2;
	if (tag == T_ROOTFS)
		return 3;
	if ((tag >= T_MOUNT && tag <= T_SYMLINK_REPLACE) || tag == T_HOOK_BARRIER ||
	    tag == T_HOOK_CREATE_CONTAINER)
		return 4;
	if (tag == T_CHANGE_ROOT)
		return 5;
	if (tag >= T_ROOT_READONLY && tag <= T_REMOUNT_READONLY)
		return 6;
	return 7;
}

static int decode_payload(struct rec *r, struct cur *c)
{
	const char *n = c->rec;
	switch (r->tag) {
	case T_MODE:
		if (g_u32(c, "mode", &r->u.mode.mode) < 0 || g_u32(c, "flags", &r->u.mode.flags) < 0)
			return -1;
		if (r->u.mode.mode > MODE_EXEC)
			return fail("invalid plan: MODE: unknown mode %u", r->u.mode.mode);
		if (r->u.mode.flags & ~(MODE_FOREGROUND | MODE_WAIT))
			return fail("invalid plan: MODE: unknown flags 0x%x", r->u.mode.flags);
		return 0;
	case T_NS_JOIN:
		if (g_u32(c, "flag", &r->u.ns_join.flag) < 0 || g_str(c, "path", &r->u.ns_join.path) < 0)
			return -1;
		if (!single_ns_flag(r->u.ns_join.flag))
			return fail("invalid plan: NS_JOIN: bad namespace flag 0x%x", r->u.ns_join.flag);
		return check_host_path(n, "path", r->u.ns_join.path);
	case T_NS_CLONE:
		if (g_u32(c, "flags", &r->u.u32) < 0)
			return -1;
		if (r->u.u32 & ~(uint32_t)NS_CLONABLE)
			return fail("invalid plan: NS_CLONE: flags 0x%x not allowed", r->u.u32);
		return 0;
	case T_NS_UNSHARE:
		if (g_u32(c, "flags", &r->u.u32) < 0)
			return -1;
		if (r->u.u32 & ~(uint32_t)(CLONE_NEWCGROUP | CLONE_NEWIPC))
			return fail("invalid plan: NS_UNSHARE: flags 0x%x not allowed", r->u.u32);
		return 0;
	case T_TIMENS_OFFSETS:
	case T_UID_MAP:
	case T_GID_MAP:
	case T_HOSTNAME:
	case T_DOMAINNAME:
	case T_SESSION_KEYRING:
	case T_ENV:
	case T_ARG:
		return g_str(c, "value", &r->u.str);
	case T_IDMAP_USERNS:
		if (g_str(c, "uid map", &r->u.idmap_userns.uid_map) < 0 ||
		    g_str(c, "gid map", &r->u.idmap_userns.gid_map) < 0)
			return -1;
		if (!r->u.idmap_userns.uid_map[0] || !r->u.idmap_userns.gid_map[0])
			return fail("invalid plan: IDMAP_USERNS: empty uid or gid map");
		return 0;
	case T_MOUNT_IDMAP:
		r->u.idmap_mount.tree_fd = -1;
		if (g_u32(c, "user namespace", &r->u.idmap_mount.userns) < 0 ||
		    g_u32(c, "flags", &r->u.idmap_mount.flags) < 0)
			return -1;
		if (r->u.idmap_mount.flags & ~MOUNT_IDMAP_RECURSIVE)
			return fail("invalid plan: MOUNT_IDMAP: unknown flags 0x%x", r->u.idmap_mount.flags);
		return 0;
	case T_CGROUP_PROCS:
	case T_EXEC_FIFO:
	case T_IDMAP_USERNS_PATH:
		if (g_str(c, "path", &r->u.str) < 0)
			return -1;
		return check_host_path(n, "path", r->u.str);
	case T_MASK_PATH:
	case T_READONLY_PATH:
	case T_CWD:
		if (g_str(c, "path", &r->u.str) < 0)
			return -1;
		return check_container_path(n, "path", r->u.str);
	case T_ROOTFS:
		if (g_str(c, "path", &r->u.rootfs.path) < 0 ||
		    g_u64(c, "propagation", &r->u.rootfs.propagation) < 0 ||
		    g_u32(c, "flags", &r->u.rootfs.flags) < 0)
			return -1;
		if (r->u.rootfs.flags & ~(ROOTFS_NEW_MNTNS | ROOTFS_HOST_MNTNS))
			return fail("invalid plan: ROOTFS: unknown flags 0x%x", r->u.rootfs.flags);
		if (r->u.rootfs.flags == (ROOTFS_NEW_MNTNS | ROOTFS_HOST_MNTNS))
			return fail("invalid plan: ROOTFS: flags 0x%x name two mount namespaces", r->u.rootfs.flags);
		if ((r->u.rootfs.flags & ROOTFS_HOST_MNTNS) && r->u.rootfs.propagation)
			return fail("invalid plan: ROOTFS: a root propagation in the host's mount namespace");
		if (check_propagation(n, r->u.rootfs.propagation) < 0)
			return -1;
		return check_host_path(n, "path", r->u.rootfs.path);
	case T_MOUNT: {
		struct r_mount *m = &r->u.mount;
		int modify;
		m->src_fd = -1;
		if (g_str(c, "source", &m->source) < 0 || g_str(c, "target", &m->target) < 0 ||
		    g_str(c, "fstype", &m->fstype) < 0 || g_u64(c, "flags", &m->flags) < 0 ||
		    g_str(c, "data", &m->data) < 0 || g_u32(c, "create", &m->create) < 0 ||
		    g_u32(c, "options", &m->options) < 0 ||
		    g_u64(c, "propagation", &m->propagation) < 0 ||
		    g_u64(c, "attr set", &m->attr_set) < 0 || g_u64(c, "attr clear", &m->attr_clr) < 0)
			return -1;
		if (check_container_path(n, "target", m->target) < 0)
			return -1;
		modify = !(m->options & MOUNT_OPT_BIND) && !m->fstype[0];
		if (m->flags & ~(uint64_t)(MS_ALLOWED | (modify ? MS_REMOUNT : 0)))
			return fail("invalid plan: MOUNT %s: flags 0x%llx not allowed", m->target,
				    (unsigned long long)(m->flags & ~(uint64_t)MS_ALLOWED));
		if (modify && m->flags && !(m->flags & MS_REMOUNT) && !(m->options & MOUNT_OPT_REMOUNT))
			return fail("invalid plan: MOUNT %s: flags without a filesystem type or remount",
				    m->target);
		if (modify && m->create != CREATE_NONE)
			return fail("invalid plan: MOUNT %s: create on a record that only changes a mount",
				    m->target);
		if (m->create > CREATE_FILE)
			return fail("invalid plan: MOUNT %s: bad create %u", m->target, m->create);
		if (m->options & ~MOUNT_OPT_ALL)
			return fail("invalid plan: MOUNT %s: unknown options 0x%x", m->target, m->options);
		/* A bind must go through the bind option, whose source is opened
		 * safely; MS_BIND on a plain mount would use the source string. */
		if ((m->flags & MS_BIND) && !(m->options & MOUNT_OPT_BIND) && !modify)
			return fail("invalid plan: MOUNT %s: MS_BIND without the bind option", m->target);
		if ((m->options & MOUNT_OPT_KERNFS_DIR) && (modify || m->create != CREATE_DIR))
			return fail("invalid plan: MOUNT %s: ordinary-directory target without create 1",
				    m->target);
		if ((m->options & MOUNT_OPT_SRC_IN_ROOT) && !(m->options & MOUNT_OPT_BIND))
			return fail("invalid plan: MOUNT %s: container-path source without bind", m->target);
		if (m->options & MOUNT_OPT_SRC_IN_ROOT) {
			if (check_container_path(n, "source", m->source) < 0)
				return -1;
		} else if (m->options & MOUNT_OPT_BIND) {
			if (check_host_path(n, "source", m->source) < 0)
				return -1;
		}
		if (check_propagation(n, m->propagation) < 0)
			return -1;
		if ((m->attr_set | m->attr_clr) & ~(uint64_t)MOUNT_ATTR_ALLOWED)
			return fail("invalid plan: MOUNT %s: mount attributes 0x%llx not supported",
				    m->target,
				    (unsigned long long)((m->attr_set | m->attr_clr) &
							 ~(uint64_t)MOUNT_ATTR_ALLOWED));
		return 0;
	}
	case T_SYMLINK:
	case T_SYMLINK_REPLACE:
		if (g_str(c, "content", &r->u.symlink.content) < 0 || g_str(c, "path", &r->u.symlink.path) < 0)
			return -1;
		if (!r->u.symlink.content[0])
			return fail("invalid plan: %s %s: empty link content", n, r->u.symlink.path);
		return check_container_path(n, "path", r->u.symlink.path);
	case T_MKNOD: {
		uint32_t type;
		if (g_str(c, "path", &r->u.mknod.path) < 0 || g_u32(c, "mode", &r->u.mknod.mode) < 0 ||
		    g_u32(c, "major", &r->u.mknod.major) < 0 || g_u32(c, "minor", &r->u.mknod.minor) < 0 ||
		    g_u32(c, "uid", &r->u.mknod.uid) < 0 || g_u32(c, "gid", &r->u.mknod.gid) < 0)
			return -1;
		type = r->u.mknod.mode & S_IFMT;
		if ((type != S_IFCHR && type != S_IFBLK && type != S_IFIFO) ||
		    (r->u.mknod.mode & ~(uint32_t)(S_IFMT | 07777)))
			return fail("invalid plan: MKNOD %s: bad mode 0%o", r->u.mknod.path, r->u.mknod.mode);
		return check_container_path(n, "path", r->u.mknod.path);
	}
	case T_BIND_DEVICE:
		if (g_str(c, "host path", &r->u.bind_dev.host) < 0 ||
		    g_str(c, "path", &r->u.bind_dev.path) < 0)
			return -1;
		if (check_host_path(n, "host path", r->u.bind_dev.host) < 0)
			return -1;
		return check_container_path(n, "path", r->u.bind_dev.path);
	case T_MKDIR:
	case T_MKDIR_LATE:
		if (g_str(c, "path", &r->u.mkdir.path) < 0 || g_u32(c, "mode", &r->u.mkdir.mode) < 0)
			return -1;
		if (r->u.mkdir.mode & ~07777u)
			return fail("invalid plan: MKDIR %s: bad mode 0%o", r->u.mkdir.path, r->u.mkdir.mode);
		return check_container_path(n, "path", r->u.mkdir.path);
	case T_REMOUNT_READONLY:
		if (g_str(c, "path", &r->u.remount_ro.path) < 0 ||
		    g_u64(c, "flags", &r->u.remount_ro.flags) < 0)
			return -1;
		if (r->u.remount_ro.flags & ~(uint64_t)(MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
							 MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME))
			return fail("invalid plan: REMOUNT_READONLY %s: flags 0x%llx not allowed",
				    r->u.remount_ro.path, (unsigned long long)r->u.remount_ro.flags);
		return check_container_path(n, "path", r->u.remount_ro.path);
	case T_CHANGE_ROOT:
		if (g_u32(c, "how", &r->u.u32) < 0)
			return -1;
		if (r->u.u32 > CHROOT_ONLY)
			return fail("invalid plan: CHANGE_ROOT: unknown method %u", r->u.u32);
		return 0;
	case T_ROOT_READONLY:
	case T_NO_NEW_PRIVS:
		return 0;
	case T_SYSCTL:
		if (g_str(c, "key", &r->u.sysctl.key) < 0 || g_str(c, "value", &r->u.sysctl.value) < 0)
			return -1;
		return check_sysctl_key(r->u.sysctl.key);
	case T_RLIMIT:
		if (g_u32(c, "resource", &r->u.rlimit.resource) < 0 ||
		    g_u64(c, "soft", &r->u.rlimit.soft) < 0 || g_u64(c, "hard", &r->u.rlimit.hard) < 0)
			return -1;
		if (r->u.rlimit.resource >= RLIM_NLIMITS)
			return fail("invalid plan: RLIMIT: unknown resource %u", r->u.rlimit.resource);
		if (r->u.rlimit.soft > r->u.rlimit.hard)
			return fail("invalid plan: RLIMIT %u: soft limit above hard limit",
				    r->u.rlimit.resource);
		return 0;
	case T_OOM_SCORE_ADJ:
		if (g_i32(c, "value", &r->u.i32) < 0)
			return -1;
		if (r->u.i32 < -1000 || r->u.i32 > 1000)
			return fail("invalid plan: OOM_SCORE_ADJ: %d out of range", r->u.i32);
		return 0;
	case T_PERSONALITY:
		if (g_u64(c, "persona", &r->u.u64) < 0)
			return -1;
		if (r->u.u64 > 0xffffffffu)
			return fail("invalid plan: PERSONALITY: bad persona 0x%llx",
				    (unsigned long long)r->u.u64);
		return 0;
	case T_SCHEDULER: {
		struct r_sched *s = &r->u.sched;
		if (g_u32(c, "policy", &s->policy) < 0 || g_i32(c, "nice", &s->nice) < 0 ||
		    g_u32(c, "priority", &s->priority) < 0 || g_u64(c, "flags", &s->flags) < 0 ||
		    g_u64(c, "runtime", &s->runtime) < 0 || g_u64(c, "deadline", &s->deadline) < 0 ||
		    g_u64(c, "period", &s->period) < 0)
			return -1;
		if (s->policy > 7)
			return fail("invalid plan: SCHEDULER: unknown policy %u", s->policy);
		if (s->nice < -20 || s->nice > 19)
			return fail("invalid plan: SCHEDULER: nice %d out of range", s->nice);
		return 0;
	}
	case T_IOPRIO:
		if (g_u32(c, "class", &r->u.ioprio.class) < 0 || g_u32(c, "level", &r->u.ioprio.level) < 0)
			return -1;
		if (r->u.ioprio.class > 3 || r->u.ioprio.level > 7)
			return fail("invalid plan: IOPRIO: bad class %u / level %u", r->u.ioprio.class,
				    r->u.ioprio.level);
		return 0;
	case T_CPU_AFFINITY:
		if (g_bytes(c, "mask", &r->u.affinity.mask, &r->u.affinity.len) < 0)
			return -1;
		if (!r->u.affinity.len || r->u.affinity.len > MAX_AFFINITY_BYTES)
			return fail("invalid plan: CPU_AFFINITY: mask of %u bytes", r->u.affinity.len);
		return 0;
	case T_USER: {
		struct r_user *u = &r->u.user;
		if (g_u32(c, "uid", &u->uid) < 0 || g_u32(c, "gid", &u->gid) < 0 ||
		    g_u32(c, "umask", &u->umask) < 0 ||
		    g_u32_arr(c, "additional gids", MAX_GIDS, &u->gids, &u->ngids) < 0)
			return -1;
		if (u->uid == 0xffffffffu || u->gid == 0xffffffffu)
			return fail("invalid plan: USER: uid/gid -1");
		for (uint32_t i = 0; i < u->ngids; i++)
			if (u->gids[i] == 0xffffffffu)
				return fail("invalid plan: USER: additional gid -1");
		if (u->umask != UMASK_LEAVE && (u->umask & ~0777u))
			return fail("invalid plan: USER: bad umask 0%o", u->umask);
		return 0;
	}
	case T_CAPS: {
		struct r_caps *k = &r->u.caps;
		if (g_u64(c, "bounding", &k->bounding) < 0 || g_u64(c, "effective", &k->effective) < 0 ||
		    g_u64(c, "permitted", &k->permitted) < 0 ||
		    g_u64(c, "inheritable", &k->inheritable) < 0 || g_u64(c, "ambient", &k->ambient) < 0)
			return -1;
		if (k->effective & ~k->permitted)
			return fail("invalid plan: CAPS: effective not a subset of permitted");
		return 0;
	}
	case T_LSM_LABEL:
		if (g_u32(c, "kind", &r->u.lsm.kind) < 0 || g_str(c, "label", &r->u.lsm.label) < 0)
			return -1;
		if (r->u.lsm.kind > LSM_SELINUX_MOUNT)
			return fail("invalid plan: LSM_LABEL: unknown kind %u", r->u.lsm.kind);
		return 0;
	case T_PRESERVE_FDS:
		if (g_u32(c, "count", &r->u.u32) < 0)
			return -1;
		if (r->u.u32 > 65536)
			return fail("invalid plan: PRESERVE_FDS: %u fds", r->u.u32);
		return 0;
	case T_SECCOMP:
		if (g_u32(c, "flags", &r->u.seccomp.flags) < 0 ||
		    g_bytes(c, "program", &r->u.seccomp.prog, &r->u.seccomp.len) < 0)
			return -1;
		if (r->u.seccomp.flags & ~(uint32_t)SECCOMP_FLAGS_ALLOWED)
			return fail("invalid plan: SECCOMP: flags 0x%x not supported", r->u.seccomp.flags);
		if (!r->u.seccomp.len || r->u.seccomp.len % 8 ||
		    r->u.seccomp.len / 8 > MAX_SECCOMP_INSNS)
			return fail("invalid plan: SECCOMP: program of %u bytes", r->u.seccomp.len);
		return 0;
	case T_HOOK_CREATE_CONTAINER:
	case T_HOOK_START_CONTAINER: {
		struct r_hook *h = &r->u.hook;
		uint32_t argc, envc;
		if (g_u32(c, "index", &h->index) < 0 || g_u32(c, "timeout", &h->timeout) < 0 ||
		    g_str(c, "path", &h->path) < 0 ||
		    g_str_list(c, "args", MAX_ARGS, &h->argv, &argc) < 0 ||
		    g_u32(c, "env_given", &h->env_given) < 0 ||
		    g_str_list(c, "env", MAX_ENV, &h->envp, &envc) < 0 ||
		    g_str(c, "state_head", &h->state_head) < 0 || g_str(c, "state_tail", &h->state_tail) < 0)
			return -1;
		if (h->path[0] != '/')
			return fail("invalid plan: %s: path %s is not absolute", n, h->path);
		if (!argc)
			return fail("invalid plan: %s: no args (argv[0] at least)", n);
		if (h->env_given > 1)
			return fail("invalid plan: %s: env_given %u", n, h->env_given);
		return 0;
	}
	case T_CONSOLE:
		if (g_u32(c, "fd", &r->u.console.fd) < 0 || g_u32(c, "rows", &r->u.console.rows) < 0 ||
		    g_u32(c, "cols", &r->u.console.cols) < 0 || g_u32(c, "flags", &r->u.console.flags) < 0)
			return -1;
		if (r->u.console.flags & ~(CONSOLE_BIND_DEV | CONSOLE_CLEAR_ONLCR))
			return fail("invalid plan: CONSOLE: unknown flags 0x%x", r->u.console.flags);
		if (r->u.console.rows > 65535 || r->u.console.cols > 65535)
			return fail("invalid plan: CONSOLE: size %ux%u", r->u.console.rows, r->u.console.cols);
		return 0;
	case T_SECCOMP_LISTENER: {
		size_t jl;
		if (g_str(c, "socket path", &r->u.listener.path) < 0 ||
		    g_str(c, "json", &r->u.listener.json) < 0 ||
		    g_u32_arr(c, "pid offsets", 4, &r->u.listener.offsets, &r->u.listener.noffsets) < 0)
			return -1;
		if (check_host_path(n, "socket path", r->u.listener.path) < 0)
			return -1;
		jl = strlen(r->u.listener.json);
		for (uint32_t k = 0; k < r->u.listener.noffsets; k++)
			if (r->u.listener.offsets[k] > jl ||
			    (k && r->u.listener.offsets[k] < r->u.listener.offsets[k - 1]))
				return fail("invalid plan: SECCOMP_LISTENER: bad pid offset %u",
					    r->u.listener.offsets[k]);
		return 0;
	}
	case T_RELEASE_BARRIER:
	case T_PIDNS_LATE:
		return 0;
	case T_IDMAP_TOOLS:
		if (g_u32(c, "flags", &r->u.idmap_tools.flags) < 0 ||
		    g_str(c, "newuidmap", &r->u.idmap_tools.newuidmap) < 0 ||
		    g_str(c, "newgidmap", &r->u.idmap_tools.newgidmap) < 0)
			return -1;
		if (r->u.idmap_tools.flags & ~IDMAP_TOOLS_SETGROUPS_DENY)
			return fail("invalid plan: IDMAP_TOOLS: unknown flags 0x%x", r->u.idmap_tools.flags);
		if (r->u.idmap_tools.newuidmap[0] && check_host_path(n, "newuidmap", r->u.idmap_tools.newuidmap) < 0)
			return -1;
		if (r->u.idmap_tools.newgidmap[0] && check_host_path(n, "newgidmap", r->u.idmap_tools.newgidmap) < 0)
			return -1;
		return 0;
	case T_HOOK_BARRIER:
		if (g_u32(c, "point", &r->u.u32) < 0)
			return -1;
		if (r->u.u32 != 0)
			return fail("invalid plan: HOOK_BARRIER: unknown point %u", r->u.u32);
		return 0;
	}
	return fail("invalid plan: unknown record tag %u", r->tag);
}

/* ---- whole-plan checks -------------------------------------------------- */

static int once(const struct rec **slot, const struct rec *r, const char *name)
{
	if (*slot)
		return fail("invalid plan: more than one %s record", name);
	*slot = r;
	return 0;
}

int plan_decode(const uint8_t *body, uint32_t len, struct plan *p)
{
	uint32_t off = 0;
	size_t cap = 64, nmounts = 0, npaths = 0, nns = 0, ncgroups = 0, nidmap_mounts = 0;
	uint64_t idmap_used = 0; /* bit k: some MOUNT_IDMAP uses user namespace k */
	const struct rec *pending_idmap = NULL; /* MOUNT_IDMAP waiting for its MOUNT */
	int stage = -1, seen_mode = 0, seen_change_root = 0, seen_barrier = 0;
	int seen_unshare = 0, seen_ns_clone = 0, nhooks = 0;
	uint32_t rlimits_seen = 0, list_cap;
	const struct rec *change_root = NULL, *rofs = NULL, *hostname = NULL, *domainname = NULL;

	memset(p, 0, sizeof *p);
	/* Records are counted before any is decoded: the array must never move,
	 * because the plan keeps pointers into it (p->uid_map and the like). */
	cap = 0;
	for (uint32_t scan = 0; scan <= len && len - scan >= REC_HEADER_LEN; cap++) {
		uint32_t skip = le32(body + scan + 4);
		if (skip > len - scan - REC_HEADER_LEN)
			break;
		scan += REC_HEADER_LEN + skip;
	}
	cap++;
	p->recs = xcalloc(cap, sizeof *p->recs);
	/* No more ARG or ENV records than records: sized by both bounds. */
	list_cap = cap < MAX_ARGS ? (uint32_t)cap : MAX_ARGS;
	p->argv = xcalloc(list_cap + 1, sizeof(char *));
	p->envp = xcalloc(list_cap + 1, sizeof(char *));

	while (off < len) {
		struct rec *r;
		struct cur c;
		uint32_t plen;
		uint16_t tag;
		const char *name;
		int st;

		if (len - off < REC_HEADER_LEN)
			return fail("invalid plan: truncated record header at offset %u", off);
		tag = (uint16_t)(body[off] | body[off + 1] << 8);
		if (body[off + 2] || body[off + 3])
			return fail("invalid plan: record at offset %u: reserved field not zero", off);
		plen = le32(body + off + 4);
		name = tag_name(tag);
		if (!name)
			return fail("invalid plan: unknown record tag %u at offset %u", tag, off);
		if (plen > len - off - REC_HEADER_LEN)
			return fail("invalid plan: %s at offset %u: payload of %u bytes runs past the end",
				    name, off, plen);
		if (p->nrecs == cap)
			return fail("invalid plan: more records than counted");
		r = &p->recs[p->nrecs];
		memset(r, 0, sizeof *r);
		r->tag = tag;
		c.p = body + off + REC_HEADER_LEN;
		c.left = plen;
		c.rec = name;
		c.field = "";
		if (decode_payload(r, &c) < 0)
			return -1;
		if (c.left)
			return fail("invalid plan: %s at offset %u: %u trailing payload bytes", name, off,
				    c.left);
		off += REC_HEADER_LEN + plen;

		/* Order. */
		if (!seen_mode && tag != T_MODE)
			return fail("invalid plan: first record is %s, not MODE", name);
		st = tag_stage(tag);
		if (st < stage)
			return fail("invalid plan: %s out of order", name);
		stage = st;
		p->nrecs++;

		/* A MOUNT_IDMAP only qualifies the MOUNT right after it, which must
		 * bind a host path: E makes the id-mapped copy of that path. */
		if (pending_idmap) {
			if (tag != T_MOUNT)
				return fail("invalid plan: MOUNT_IDMAP followed by %s, not MOUNT", name);
			if (!(r->u.mount.options & MOUNT_OPT_BIND) ||
			    (r->u.mount.options & MOUNT_OPT_SRC_IN_ROOT))
				return fail("invalid plan: MOUNT_IDMAP before MOUNT %s, which is not a bind of a host path",
					    r->u.mount.target);
			pending_idmap = NULL;
		}

		switch (tag) {
		case T_MODE:
			if (seen_mode)
				return fail("invalid plan: more than one MODE record");
			seen_mode = 1;
			p->mode = r->u.mode.mode;
			p->mode_flags = r->u.mode.flags;
			break;
		case T_NS_JOIN:
			if (p->joined_flags & r->u.ns_join.flag)
				return fail("invalid plan: NS_JOIN: %s namespace joined twice",
					    ns_name(r->u.ns_join.flag));
			p->joined_flags |= r->u.ns_join.flag;
			nns++;
			break;
		case T_NS_CLONE:
			if (seen_ns_clone++)
				return fail("invalid plan: more than one NS_CLONE record");
			p->clone_flags = r->u.u32;
			nns++;
			break;
		case T_NS_UNSHARE:
			if (seen_unshare++)
				return fail("invalid plan: more than one NS_UNSHARE record");
			p->unshare_flags = r->u.u32;
			nns++;
			break;
		case T_TIMENS_OFFSETS:
			if (once(&p->timens, r, name) < 0)
				return -1;
			break;
		case T_UID_MAP:
			if (once(&p->uid_map, r, name) < 0)
				return -1;
			break;
		case T_GID_MAP:
			if (once(&p->gid_map, r, name) < 0)
				return -1;
			break;
		case T_CGROUP_PROCS:
			if (++ncgroups > MAX_CGROUPS)
				return fail("invalid plan: more than %d CGROUP_PROCS records", MAX_CGROUPS);
			break;
		case T_EXEC_FIFO:
			if (once(&p->exec_fifo, r, name) < 0)
				return -1;
			break;
		case T_IDMAP_USERNS:
		case T_IDMAP_USERNS_PATH:
			if (p->nidmap_userns == MAX_IDMAP_USERNS)
				return fail("invalid plan: more than %d IDMAP_USERNS records", MAX_IDMAP_USERNS);
			p->nidmap_userns++;
			break;
		case T_MOUNT_IDMAP:
			/* Group 1 is complete by now, so the count is final. */
			if (r->u.idmap_mount.userns >= p->nidmap_userns)
				return fail("invalid plan: MOUNT_IDMAP: user namespace %u of %zu",
					    r->u.idmap_mount.userns, p->nidmap_userns);
			if (++nidmap_mounts > MAX_IDMAP_MOUNTS)
				return fail("invalid plan: more than %d MOUNT_IDMAP records", MAX_IDMAP_MOUNTS);
			idmap_used |= 1ull << r->u.idmap_mount.userns;
			pending_idmap = r;
			break;
		case T_ROOTFS:
			if (once(&p->rootfs, r, name) < 0)
				return -1;
			break;
		case T_MOUNT:
		case T_BIND_DEVICE:
			if (++nmounts > MAX_MOUNTS)
				return fail("invalid plan: more than %d mounts", MAX_MOUNTS);
			break;
		case T_SYMLINK:
		case T_SYMLINK_REPLACE:
		case T_MKNOD:
		case T_MKDIR:
		case T_MKDIR_LATE:
		case T_REMOUNT_READONLY:
		case T_MASK_PATH:
		case T_READONLY_PATH:
		case T_SYSCTL:
			if (++npaths > MAX_PATH_RECS)
				return fail("invalid plan: more than %d path records", MAX_PATH_RECS);
			break;
		case T_HOOK_CREATE_CONTAINER:
		case T_HOOK_START_CONTAINER:
			if (++nhooks > MAX_HOOKS)
				return fail("invalid plan: more than %d hook records", MAX_HOOKS);
			break;
		case T_HOOK_BARRIER:
			if (seen_barrier++)
				return fail("invalid plan: more than one HOOK_BARRIER record");
			break;
		case T_CHANGE_ROOT:
			if (seen_change_root++)
				return fail("invalid plan: more than one CHANGE_ROOT record");
			change_root = r;
			break;
		case T_ROOT_READONLY:
			if (once(&rofs, r, name) < 0)
				return -1;
			break;
		case T_HOSTNAME:
			if (once(&hostname, r, name) < 0)
				return -1;
			break;
		case T_DOMAINNAME:
			if (once(&domainname, r, name) < 0)
				return -1;
			break;
		case T_RLIMIT:
			if (rlimits_seen & (1u << r->u.rlimit.resource))
				return fail("invalid plan: RLIMIT %u given twice", r->u.rlimit.resource);
			rlimits_seen |= 1u << r->u.rlimit.resource;
			break;
		case T_OOM_SCORE_ADJ:
			if (once(&p->oom, r, name) < 0)
				return -1;
			break;
		case T_PERSONALITY:
			if (once(&p->personality, r, name) < 0)
				return -1;
			break;
		case T_SCHEDULER:
			if (once(&p->sched, r, name) < 0)
				return -1;
			break;
		case T_IOPRIO:
			if (once(&p->ioprio, r, name) < 0)
				return -1;
			break;
		case T_CPU_AFFINITY:
			if (once(&p->affinity, r, name) < 0)
				return -1;
			break;
		case T_NO_NEW_PRIVS:
			if (once(&p->nnp, r, name) < 0)
				return -1;
			break;
		case T_USER:
			if (once(&p->user, r, name) < 0)
				return -1;
			break;
		case T_CAPS:
			if (once(&p->caps, r, name) < 0)
				return -1;
			break;
		case T_SESSION_KEYRING:
			if (once(&p->keyring, r, name) < 0)
				return -1;
			break;
		case T_LSM_LABEL:
			if (once(&p->lsm[r->u.lsm.kind], r, name) < 0)
				return -1;
			break;
		case T_CWD:
			if (once(&p->cwd, r, name) < 0)
				return -1;
			break;
		case T_PRESERVE_FDS:
			if (once(&p->preserve_fds, r, name) < 0)
				return -1;
			break;
		case T_SECCOMP:
			if (once(&p->seccomp, r, name) < 0)
				return -1;
			break;
		case T_CONSOLE:
			if (once(&p->console, r, name) < 0)
				return -1;
			break;
		case T_RELEASE_BARRIER:
			if (once(&p->release_barrier, r, name) < 0)
				return -1;
			break;
		case T_PIDNS_LATE:
			if (once(&p->pidns_late, r, name) < 0)
				return -1;
			break;
		case T_IDMAP_TOOLS:
			if (once(&p->idmap_tools, r, name) < 0)
				return -1;
			break;
		case T_SECCOMP_LISTENER:
			if (once(&p->seccomp_listener, r, name) < 0)
				return -1;
			break;
		case T_ENV:
			if (p->envc == MAX_ENV || p->envc == list_cap)
				return fail("invalid plan: more than %d ENV records", MAX_ENV);
			p->envp[p->envc++] = r->u.str;
			break;
		case T_ARG:
			if (p->argc == MAX_ARGS || p->argc == list_cap)
				return fail("invalid plan: more than %d ARG records", MAX_ARGS);
			p->argv[p->argc++] = r->u.str;
			break;
		}
		if (nns > MAX_NS_RECS)
			return fail("invalid plan: more than %d namespace records", MAX_NS_RECS);
	}

	if (!seen_mode)
		return fail("invalid plan: no MODE record");
	if (pending_idmap)
		return fail("invalid plan: MOUNT_IDMAP is the last record");
	if (!p->argc)
		return fail("invalid plan: no ARG record");
	if (p->clone_flags & p->joined_flags)
		return fail("invalid plan: namespace both joined and created (0x%x)",
			    p->clone_flags & p->joined_flags);
	if ((p->uid_map || p->gid_map) && !((p->clone_flags | p->joined_flags) & CLONE_NEWUSER))
		return fail("invalid plan: UID_MAP/GID_MAP without a new or joined user namespace");
	if ((p->clone_flags & CLONE_NEWUSER) && (!p->uid_map || !p->gid_map))
		return fail("invalid plan: new user namespace without UID_MAP and GID_MAP");
	if (p->idmap_tools && (!p->uid_map || !(p->clone_flags & CLONE_NEWUSER)))
		return fail("invalid plan: IDMAP_TOOLS without UID_MAP/GID_MAP of a new user namespace");
	if (p->timens && (p->joined_flags & CLONE_NEWTIME))
		return fail("invalid plan: TIMENS_OFFSETS with a joined time namespace");
	if (p->unshare_flags & (p->joined_flags | p->clone_flags))
		return fail("invalid plan: namespace both joined or cloned and unshared");
	if ((p->unshare_flags & CLONE_NEWIPC) && !(p->clone_flags & CLONE_NEWUSER))
		return fail("invalid plan: NS_UNSHARE of an IPC namespace without a new user namespace");

	/* Each needs the other: a listener nobody receives would hang C's hand-over. */
	if (!p->seccomp_listener != !(p->seccomp && (p->seccomp->u.seccomp.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)))
		return fail("invalid plan: SECCOMP_LISTENER and SECCOMP's NEW_LISTENER flag go together");

	if (check_pidns_late(p) < 0)
		return -1;

	if ((hostname || domainname) && !((p->clone_flags | p->joined_flags) & CLONE_NEWUTS))
		return fail("invalid plan: HOSTNAME/DOMAINNAME without a UTS namespace");

	if (p->console && (p->console->u.console.flags & CONSOLE_BIND_DEV) &&
	    (p->mode != MODE_INIT || !p->rootfs || !(p->rootfs->u.rootfs.flags & ROOTFS_NEW_MNTNS)))
		return fail("invalid plan: CONSOLE binds /dev/console without a new mount namespace");
	if (p->mode == MODE_EXEC) {
		for (size_t i = 0; i < p->nrecs; i++) {
			int st = tag_stage(p->recs[i].tag);
			uint16_t t = p->recs[i].tag;
			if ((st >= 3 && st <= 6) || t == T_NS_CLONE || t == T_TIMENS_OFFSETS ||
			    t == T_HOOK_START_CONTAINER ||
			    t == T_UID_MAP || t == T_GID_MAP || t == T_IDMAP_USERNS ||
			    t == T_IDMAP_USERNS_PATH)
				return fail("invalid plan: %s not allowed in exec mode", tag_name(t));
		}
	} else {
		int mntns;
		if (!p->rootfs)
			return fail("invalid plan: no ROOTFS record");
		if (!change_root)
			return fail("invalid plan: no CHANGE_ROOT record");
		mntns = (p->rootfs->u.rootfs.flags & ROOTFS_NEW_MNTNS) != 0;
		if (mntns && !((p->clone_flags | p->joined_flags) & CLONE_NEWNS))
			return fail("invalid plan: ROOTFS asks for mount namespace setup without one");
		if (!mntns) {
			/* Without a mount namespace of its own these would change the host's
			 * mount table; with ROOTFS_HOST_MNTNS the ones that stay beneath the
			 * rootfs's private bind are allowed. */
			int host = (p->rootfs->u.rootfs.flags & ROOTFS_HOST_MNTNS) != 0;
			if (host && ((p->clone_flags | p->joined_flags) & (CLONE_NEWNS | CLONE_NEWUSER)))
				return fail("invalid plan: ROOTFS in the host's mount namespace with a new or joined mount or user namespace");
			for (size_t i = 0; i < p->nrecs; i++) {
				uint16_t t = p->recs[i].tag;
				if ((!host && (t == T_MOUNT || t == T_BIND_DEVICE || t == T_REMOUNT_READONLY ||
					       t == T_ROOT_READONLY)) ||
				    t == T_MOUNT_IDMAP || t == T_MASK_PATH || t == T_READONLY_PATH)
					return fail("invalid plan: %s without a new mount namespace",
						    tag_name(t));
			}
			if (change_root->u.u32 != CHROOT_ONLY)
				return fail("invalid plan: CHANGE_ROOT %u without a new mount namespace",
					    change_root->u.u32);
		}
	}
	/* Each one costs a helper process: none without a mount using it. */
	for (size_t k = 0; k < p->nidmap_userns; k++)
		if (!(idmap_used & (1ull << k)))
			return fail("invalid plan: IDMAP_USERNS %zu is not used by any MOUNT_IDMAP", k);
	return 0;
}
