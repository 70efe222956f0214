#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "executor.h"

int g_sync_fd = -1;

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One sendmsg per message: E and C share the socket, and a message must not
 * be split by the other's. MSG_NOSIGNAL because a vanished tsrun must turn
 * into an error, not a SIGPIPE death without a trace. */
int sync_send(uint16_t tag, const void *payload, uint32_t len)
{
	uint8_t hdr[REC_HEADER_LEN];
	struct iovec iov[2];
	struct msghdr mh;
	size_t total = sizeof hdr + len, done = 0;

	put_u16(hdr, tag);
	put_u16(hdr + 2, 0);
	put_u32(hdr + 4, len);
	while (done < total) {
		int n = 0;
		ssize_t w;
		if (done < sizeof hdr) {
			iov[n].iov_base = hdr + done;
			iov[n++].iov_len = sizeof hdr - done;
			if (len) {
				iov[n].iov_base = (void *)payload;
				iov[n++].iov_len = len;
			}
		} else {
			iov[n].iov_base = (uint8_t *)payload + (done - sizeof hdr);
			iov[n++].iov_len = total - done;
		}
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		w = sendmsg(g_sync_fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = writev(g_sync_fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

int sync_send_u32(uint16_t tag, uint32_t v)
{
	uint8_t b[4];
	put_u32(b, v);
	return sync_send(tag, b, 4);
}

static int send_str_msg(uint16_t tag, const uint8_t *prefix, size_t plen, const char *s)
{
	size_t sl = strlen(s);
	uint8_t buf[16 + sizeof g_err];
	if (sl > sizeof g_err)
		sl = sizeof g_err;
	memcpy(buf, prefix, plen);
	put_u32(buf + plen, (uint32_t)sl);
	memcpy(buf + plen + 4, s, sl);
	return sync_send(tag, buf, (uint32_t)(plen + 4 + sl));
}

void sync_error(const char *msg)
{
	if (g_sync_fd < 0 || send_str_msg(M_ERROR, NULL, 0, msg) < 0) {
		/* Nobody to tell on the socket: stderr is the container's, but
		 * it is the only trace left. */
		dprintf(2, "tsrun-executor: %s\n", msg);
	}
}

void sync_log(uint32_t level, const char *fmt, ...)
{
	char msg[1024];
	uint8_t lv[4];
	va_list ap;
	if (g_sync_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	put_u32(lv, level);
	(void)send_str_msg(M_LOG, lv, 4, msg);
}

int sync_recv(uint8_t *buf, uint32_t cap, uint32_t *len)
{
	uint8_t hdr[REC_HEADER_LEN];
	uint32_t n;
	if (read_full(g_sync_fd, hdr, sizeof hdr) < 0)
		return -1;
	if (hdr[2] || hdr[3])
		return -1;
	n = get_u32(hdr + 4);
	if (n > cap)
		return -1;
	if (n && read_full(g_sync_fd, buf, n) < 0)
		return -1;
	*len = n;
	return (int)((uint32_t)hdr[0] | (uint32_t)hdr[1] << 8);
}

void (*g_die_hook)(void);

void die(void)
{
	sync_error(g_err);
	if (g_die_hook)
		g_die_hook();
	_exit(1);
}
