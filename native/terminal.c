/*
 * The container's terminal (CONSOLE record): a pty made inside the
 * container's devpts, its master handed out over a unix socket, its slave
 * made the process's stdio and controlling terminal. See PLAN-FORMAT.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "executor.h"

/* What runc sends as the message data: the name of the master's file, as
 * containerd/console opens it. go-runc and conmon only check its length. */
#define MASTER_NAME "/dev/ptmx"

int e_check_console(const struct plan *p, int sync_fd)
{
	uint32_t nfds = p->preserve_fds ? p->preserve_fds->u.u32 : 0;
	int fd;

	if (!p->console)
		return 0;
	fd = (int)p->console->u.console.fd;
	if (p->console->u.console.fd < 3 + nfds || fd == sync_fd)
		return fail("invalid plan: CONSOLE fd %d overlaps stdio, the preserved fds or the sync fd", fd);
	/* The socket must reach neither the user program nor, through it, the
	 * caller's listener. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return fail("invalid plan: CONSOLE fd %d is not open", fd);
	return 0;
}

static int send_master(int sock, int master)
{
	static const char data[] = MASTER_NAME;
	ssize_t n = send_with_fd(sock, data, sizeof data - 1, master);
	if (n < 0)
		return fail_errno(errno, "send console master");
	if ((size_t)n != sizeof data - 1)
		return fail("send console master: short write of %zd bytes", n);
	return 0;
}

/* runc binds the slave over /dev/console, so that programs writing to the
 * console reach the container's terminal rather than failing. */
static int bind_dev_console(int slave, const char *slave_name)
{
	char src[64], dst[64];
	int fd = open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		int made = open("/dev/console", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (made < 0)
			return fail_errno(errno, "create /dev/console");
		close(made);
		fd = open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return fail_errno(errno, "open /dev/console");
	if (mount(proc_fd_path(src, slave), proc_fd_path(dst, fd), NULL, MS_BIND, NULL) < 0) {
		int err = errno;
		close(fd);
		return fail_errno(err, "mount %s to /dev/console", slave_name);
	}
	close(fd);
	return 0;
}

int c_setup_console(const struct plan *p)
{
	const struct rec *r = p->console;
	int sock = (int)r->u.console.fd, master, slave, unlock = 0;
	unsigned int ptn;
	char slave_name[32];

	/* Through the container's /dev/ptmx (pts/ptmx), so that the pty belongs
	 * to the container's devpts instance and is /dev/pts/N in there. */
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return fail_errno(errno, "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0) {
		fail_errno(errno, "unlock pty");
		goto fail_master;
	}
	snprintf(slave_name, sizeof slave_name, "/dev/pts/%u", ptn);
	/* Opened through the master, not by name: a path could be swapped. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		fail_errno(errno, "open %s", slave_name);
		goto fail_master;
	}
	if (r->u.console.rows && r->u.console.cols) {
		struct winsize ws = { .ws_row = (unsigned short)r->u.console.rows,
				      .ws_col = (unsigned short)r->u.console.cols };
		if (ioctl(master, TIOCSWINSZ, &ws) < 0) {
			fail_errno(errno, "set console size");
			goto fail_both;
		}
	}
	/* Set here, before the process can write anything, rather than by the
	 * receiver, which would race with the first output. */
	if (r->u.console.flags & CONSOLE_CLEAR_ONLCR) {
		struct termios t;
		if (tcgetattr(slave, &t) < 0) {
			fail_errno(errno, "tcgetattr %s", slave_name);
			goto fail_both;
		}
		t.c_oflag &= ~(tcflag_t)ONLCR;
		if (tcsetattr(slave, TCSANOW, &t) < 0) {
			fail_errno(errno, "tcsetattr %s", slave_name);
			goto fail_both;
		}
	}
	if ((r->u.console.flags & CONSOLE_BIND_DEV) && bind_dev_console(slave, slave_name) < 0)
		goto fail_both;
	/* Like runc, give the pty to the process's user so it can use it; the
	 * group stays the one devpts chose. Not being able to is not fatal. */
	if (p->user && fchown(slave, p->user->u.user.uid, (gid_t)-1) < 0 &&
	    errno != EINVAL && errno != EPERM && errno != EROFS) {
		fail_errno(errno, "fchown %s", slave_name);
		goto fail_both;
	}
	if (send_master(sock, master) < 0)
		goto fail_both;
	/* The master lives on only at the receiver's end. */
	close(master);
	close(sock);

	/* With PIDNS_LATE C2 makes the session (pidns.c): a session leader C1
	 * exiting would hang the terminal up on C2. */
	if (!p->pidns_late && setsid() < 0)
		return fail_errno(errno, "setsid");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return fail_errno(errno, "dup2 %s to fd %d", slave_name, fd);
	if (slave > 2)
		close(slave);
	if (!p->pidns_late && ioctl(0, TIOCSCTTY, 0) < 0)
		return fail_errno(errno, "ioctl TIOCSCTTY");
	sync_log(LOG_DEBUG, "init: console %s", slave_name);
	return 0;

fail_both:
	close(slave);
fail_master:
	close(master);
	return -1;
}
