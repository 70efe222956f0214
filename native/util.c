#include <sys/vfs.h>
#include <linux/magic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "executor.h"

char g_err[4096];

/* tsrun reports our messages verbatim next to runc's, whose errno texts come
 * from Go's syscall table: glibc's descriptions with a lowercase first letter
 * match it for every errno we are likely to hit. */
const char *errno_text(int err)
{
	static char buf[128];
	const char *d = strerrordesc_np(err);
	if (!d) {
		snprintf(buf, sizeof buf, "errno %d", err);
		return buf;
	}
	snprintf(buf, sizeof buf, "%s", d);
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_err, sizeof g_err, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_errno(int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	va_start(ap, fmt);
	vsnprintf(g_err, sizeof g_err, fmt, ap);
	va_end(ap);
	n = strlen(g_err);
	snprintf(g_err + n, sizeof g_err - n, ": %s", errno_text(err));
	return -1;
}

/* Prefixes the pending error with what the caller was doing. */
int err_wrap(const char *fmt, ...)
{
	char tmp[sizeof g_err];
	size_t n, m;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (n + 2 < sizeof tmp) {
		memcpy(tmp + n, ": ", 2);
		n += 2;
		m = strlen(g_err);
		if (m > sizeof tmp - 1 - n)
			m = sizeof tmp - 1 - n;
		memcpy(tmp + n, g_err, m);
		n += m;
	}
	tmp[n] = 0;
	memcpy(g_err, tmp, n + 1);
	return -1;
}

#ifdef TSRUN_FUZZ
/* The executor never frees what the decoder allocates (it lives for one plan);
 * the fuzzer decodes millions, so it releases them after each input. */
static void **g_fuzz_allocs;
static size_t g_fuzz_n, g_fuzz_cap;

static void *fuzz_track(void *p)
{
	if (g_fuzz_n == g_fuzz_cap) {
		g_fuzz_cap = g_fuzz_cap ? 2 * g_fuzz_cap : 1024;
		g_fuzz_allocs = realloc(g_fuzz_allocs, g_fuzz_cap * sizeof *g_fuzz_allocs);
		if (!g_fuzz_allocs)
			abort();
	}
	g_fuzz_allocs[g_fuzz_n++] = p;
	return p;
}

void fuzz_release_all(void)
{
	for (size_t i = 0; i < g_fuzz_n; i++)
		free(g_fuzz_allocs[i]);
	g_fuzz_n = 0;
}
#else
#define fuzz_track(p) (p)
#endif

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fail("out of memory");
		die();
	}
	return fuzz_track(p);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fail("out of memory");
		die();
	}
	return fuzz_track(p);
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = 0;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Kernel interface files (proc, cgroupfs) want the whole value in one
 * write(2); a short write is reported rather than retried. With want_procfs
 * the file must be on procfs (errno EXDEV otherwise). */
static int write_at(int dirfd, const char *path, const char *data, size_t len, int want_procfs)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	struct statfs sfs;
	ssize_t w;
	if (fd < 0)
		return -1;
	if (want_procfs && (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	w = write(fd, data, len);
	if (w < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	if ((size_t)w != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int write_file_at(int dirfd, const char *path, const char *data, size_t len)
{
	return write_at(dirfd, path, data, len, 0);
}

/* A file the runtime writes under /proc must be procfs: a /proc that is a
 * bind of a host directory, or any other fs, would take the value (a sysctl,
 * an LSM label) somewhere else and leave the setting silently unapplied. */
int check_procfs_fd(int fd, const char *what)
{
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return fail_errno(errno, "statfs %s", what);
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return fail("%s is not on procfs (type 0x%lx)", what, (unsigned long)sfs.f_type);
	return 0;
}

/* write_file_at for a /proc file: the open fd is checked to be procfs before
 * the value is written (errno EXDEV for a file elsewhere). */
int write_proc_file_at(int dirfd, const char *path, const char *data, size_t len)
{
	return write_at(dirfd, path, data, len, 1);
}

void close_quiet(int fd)
{
	if (fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
}

int g_proc_relative;

char *proc_fd_path(char buf[64], int fd)
{
	snprintf(buf, 64, g_proc_relative ? "self/fd/%d" : "/proc/self/fd/%d", fd);
	return buf;
}

ssize_t send_with_fd(int sock, const void *data, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof ctl);
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof ctl.buf;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n >= 0 || errno == EINTR) {
			if (n >= 0)
				return n;
			continue;
		}
		/* A socket shared with another process may be non-blocking: wait, do not fail. */
		if (errno == EAGAIN) {
			struct pollfd pfd = { .fd = sock, .events = POLLOUT };
			if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		return -1;
	}
}

#ifdef TSRUN_FAULTS
void fault_point(const char *step)
{
	const char *at = getenv("TSRUN_EXECUTOR_FAULT_AT");
	if (!at || strcmp(at, step) != 0)
		return;
	kill(getpid(), SIGKILL);
	/* The init of a pid namespace ignores its own SIGKILL: gone all the same. */
	_exit(137);
}
#endif
