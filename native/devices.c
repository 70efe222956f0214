/*
 * Device nodes for the container's /dev: created with mknod where C may do
 * that, or bind-mounted from the host inside a user namespace, where mknod
 * of a device is never allowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "executor.h"

static int same_node(const struct stat *st, mode_t type, dev_t dev)
{
	if ((st->st_mode & S_IFMT) != type)
		return 0;
	return type == S_IFIFO || st->st_rdev == dev;
}

int c_mknod(const struct rec *r, struct c_root *root)
{
	const char *path = r->u.mknod.path;
	mode_t type = r->u.mknod.mode & S_IFMT;
	dev_t dev = makedev(r->u.mknod.major, r->u.mknod.minor);
	char name[NAME_MAX + 1], p[64];
	struct stat st;
	int pfd, fd;

	pfd = open_parent_in_root(root->fd, path, name, sizeof name);
	if (pfd < 0)
		return fail_errno(errno, "mknod %s", path);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!same_node(&st, type, dev)) {
			/* Whatever the image put there (a regular file, a symlink to
			 * somewhere else) is replaced; a directory is left alone. */
			if (S_ISDIR(st.st_mode) || unlinkat(pfd, name, 0) < 0) {
				int e = S_ISDIR(st.st_mode) ? EEXIST : errno;
				close(pfd);
				return fail_errno(e, "mknod %s", path);
			}
			if (mknodat(pfd, name, r->u.mknod.mode, dev) < 0) {
				int e = errno;
				close(pfd);
				return fail_errno(e, "mknod %s", path);
			}
		}
	} else if (errno != ENOENT || mknodat(pfd, name, r->u.mknod.mode, dev) < 0) {
		int e = errno;
		close(pfd);
		return fail_errno(e, "mknod %s", path);
	}

	/* Owner and mode are set on the node we just checked, through an fd, so
	 * that nothing in the rootfs can redirect them. */
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return fail_errno(errno, "mknod %s", path);
	if (fstat(fd, &st) < 0 || !same_node(&st, type, dev)) {
		close(fd);
		return fail_errno(EEXIST, "mknod %s", path);
	}
	if (fchownat(fd, "", r->u.mknod.uid, r->u.mknod.gid, AT_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		return fail_errno(e, "chown %s", path);
	}
	if ((st.st_mode & 07777) != (r->u.mknod.mode & 07777) &&
	    chmod(proc_fd_path(p, fd), r->u.mknod.mode & 07777) < 0) {
		int e = errno;
		close(fd);
		return fail_errno(e, "chmod %s", path);
	}
	close(fd);
	return 0;
}

int c_bind_device(const struct rec *r, struct c_root *root)
{
	const char *host = r->u.bind_dev.host, *path = r->u.bind_dev.path;
	char src[64], dst[64];
	int sfd, tfd;

	sfd = open(host, O_PATH | O_CLOEXEC);
	if (sfd < 0)
		return fail_errno(errno, "bind device %s to %s: open source", host, path);
	tfd = mkdir_in_root(root->fd, path, 0644, CREATE_FILE);
	if (tfd < 0) {
		int e = errno;
		close(sfd);
		return fail_errno(e, "bind device %s to %s", host, path);
	}
	if (mount(proc_fd_path(src, sfd), proc_fd_path(dst, tfd), NULL, MS_BIND, NULL) < 0) {
		int e = errno;
		close(sfd);
		close(tfd);
		return fail_errno(e, "bind device %s to %s", host, path);
	}
	close(sfd);
	close(tfd);
	return 0;
}
