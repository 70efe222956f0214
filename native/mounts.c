/*
 * Mount namespace work done by C: the rootfs, MOUNT/SYMLINK/MKDIR records,
 * the root change, and the masked/read-only paths.
 *
 * Every target is resolved beneath the root into an O_PATH fd and the mount
 * is made onto /proc/self/fd/N. The kernel follows that magic link to the
 * exact dentry we resolved, so a symlink swapped into the rootfs after the
 * check cannot send the mount somewhere on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "executor.h"


static int devnull_fd = -1;

/* Mount flags the kernel locks on a mount that came from a more privileged
 * mount namespace; a remount inside a user namespace must repeat them or it
 * gets EPERM. statfs reports them as ST_* bits, which differ from MS_* for
 * some values, hence the table. */
static unsigned long locked_flags(int fd)
{
	static const struct { unsigned long st, ms; } map[] = {
		{ ST_RDONLY, MS_RDONLY },     { ST_NOSUID, MS_NOSUID },
		{ ST_NODEV, MS_NODEV },       { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME },   { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME }, { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
	};
	struct statfs sf;
	unsigned long out = 0;
	if (fd >= 0 ? fstatfs(fd, &sf) : statfs("/", &sf))
		return 0;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if ((unsigned long)sf.f_flags & map[i].st)
			out |= map[i].ms;
	return out;
}

static int remount_fd(int fd, unsigned long flags, const char *data)
{
	char p[64];
	int e;
	if (mount(NULL, proc_fd_path(p, fd), NULL, flags, data) == 0)
		return 0;
	e = errno;
	if (e != EPERM)
		return -1;
	flags |= locked_flags(fd);
	if (mount(NULL, p, NULL, flags, data) == 0)
		return 0;
	errno = e;
	return -1;
}

static int mount_setattr_fd(int fd, uint64_t set, uint64_t clr, int recursive)
{
	struct tsrun_mount_attr a = { .attr_set = set, .attr_clr = clr };
	return (int)syscall(SYS_mount_setattr, fd, "",
			    AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a);
}

/* ---- /proc/self/mountinfo ------------------------------------------------ */

static void unescape_octal(char *s)
{
	char *o = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
}

static int path_under(const char *path, const char *mp)
{
	size_t n = strlen(mp);
	if (strcmp(mp, "/") == 0)
		return 1;
	return strncmp(path, mp, n) == 0 && (path[n] == 0 || path[n] == '/');
}

struct mi_entry {
	char *mountpoint, *fstype;
	int shared;
};

/* Calls fn for every mount in /proc/self/mountinfo, in the kernel's order
 * (parents before their children); fn returns <0 to stop with an error. */
static int mountinfo_each(int (*fn)(const struct mi_entry *, void *), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!f)
		return fail_errno(errno, "open /proc/self/mountinfo");
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok;
		struct mi_entry e = { 0 };
		int field = 0, after_sep = 0;
		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
			if (field == 4) {
				e.mountpoint = tok;
			} else if (field >= 6 && !after_sep) {
				if (strcmp(tok, "-") == 0)
					after_sep = 1;
				else if (strncmp(tok, "shared:", 7) == 0)
					e.shared = 1;
			} else if (after_sep && !e.fstype) {
				e.fstype = tok;
			}
		}
		if (!e.mountpoint || !e.fstype)
			continue;
		unescape_octal(e.mountpoint);
		rc = fn(&e, arg);
	}
	free(line);
	fclose(f);
	return rc;
}

struct parent_search {
	const char *path;
	char best[PATH_MAX];
	size_t bestlen;
	int shared, found;
};

static int find_parent(const struct mi_entry *e, void *arg)
{
	struct parent_search *ps = arg;
	size_t n = strlen(e->mountpoint);
	/* ">=": of several mounts stacked on one point, the last is on top. */
	if (path_under(ps->path, e->mountpoint) && n >= ps->bestlen && n < sizeof ps->best) {
		memcpy(ps->best, e->mountpoint, n + 1);
		ps->bestlen = n;
		ps->shared = e->shared;
		ps->found = 1;
	}
	return 0;
}

/* pivot_root and MS_MOVE refuse to work when the rootfs' parent mount is
 * shared, and a bind beneath a shared parent would propagate to the host's
 * peers; only relevant when the plan asked for shared root propagation. */
static int make_parent_private(const char *rootfs)
{
	struct parent_search ps;
	memset(&ps, 0, sizeof ps);
	ps.path = rootfs;
	if (mountinfo_each(find_parent, &ps) < 0)
		return -1;
	if (ps.found && ps.shared && mount(NULL, ps.best, NULL, MS_PRIVATE, NULL) < 0)
		return fail_errno(errno, "make %s private", ps.best);
	return 0;
}

struct host_kernfs {
	const char *rootfs;
	char **paths;
	size_t n, cap;
};

static int collect_host_kernfs(const struct mi_entry *e, void *arg)
{
	struct host_kernfs *hk = arg;
	if (strcmp(e->fstype, "proc") != 0 && strcmp(e->fstype, "sysfs") != 0)
		return 0;
	if (path_under(e->mountpoint, hk->rootfs) || path_under(hk->rootfs, e->mountpoint))
		return 0;
	if (hk->n == hk->cap) {
		char **np = xcalloc(hk->cap ? hk->cap * 2 : 16, sizeof *np);
		if (hk->n)
			memcpy(np, hk->paths, hk->n * sizeof *np);
		free(hk->paths);
		hk->paths = np;
		hk->cap = hk->cap ? hk->cap * 2 : 16;
	}
	hk->paths[hk->n] = xmalloc(strlen(e->mountpoint) + 1);
	strcpy(hk->paths[hk->n++], e->mountpoint);
	return 0;
}

/* Without pivot_root the host's mounts stay in our mount namespace, merely
 * hidden under the rootfs. The kernel lets a user namespace mount a fresh
 * proc or sysfs only if a fully visible one exists in the namespace, and the
 * host's would qualify: get rid of them, or cover them where they are locked
 * (as runc does). */
static int hide_host_kernfs(struct c_root *root)
{
	struct host_kernfs hk = { .rootfs = root->host_path };
	int rc = 0;
	if (mountinfo_each(collect_host_kernfs, &hk) < 0)
		return -1;
	for (size_t i = 0; i < hk.n && rc == 0; i++) {
		const char *p = hk.paths[i];
		if (umount2(p, MNT_DETACH) == 0 || errno == ENOENT)
			continue;
		if (errno != EINVAL && errno != EPERM)
			rc = fail_errno(errno, "unmount %s", p);
		else if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0") < 0 && errno != ENOENT)
			rc = fail_errno(errno, "cover %s", p);
	}
	for (size_t i = 0; i < hk.n; i++)
		free(hk.paths[i]);
	free(hk.paths);
	return rc;
}

/* ---- rootfs -------------------------------------------------------------- */

int c_prepare_rootfs(const struct rec *r, struct c_root *root)
{
	const char *path = r->u.rootfs.path;
	root->host_path = path;
	root->new_mntns = (r->u.rootfs.flags & ROOTFS_NEW_MNTNS) != 0;
	root->propagation = r->u.rootfs.propagation;

	if (root->new_mntns) {
		/* Without an explicit choice, runc's default: our mounts must never
		 * reach the host, and host mounts may still reach us. */
		unsigned long prop = root->propagation ? (unsigned long)root->propagation
						       : (unsigned long)(MS_SLAVE | MS_REC);
		if (mount(NULL, "/", NULL, prop, NULL) < 0)
			return fail_errno(errno, "set propagation of /");
		if ((prop & MS_SHARED) && make_parent_private(path) < 0)
			return -1;
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail_errno(errno, "bind rootfs %s", path);
	} else if (r->u.rootfs.flags & ROOTFS_HOST_MNTNS) {
		/* The host's mount namespace, whose propagation is not ours to
		 * change: only the bind itself reaches the peers of the rootfs's
		 * mount (and leaves them with it at delete); made private at once,
		 * it takes every later mount of the container out of propagation. */
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail_errno(errno, "bind rootfs %s", path);
		if (mount(NULL, path, NULL, MS_PRIVATE | MS_REC, NULL) < 0) {
			int e = errno;
			umount2(path, MNT_DETACH);
			return fail_errno(e, "make rootfs %s private", path);
		}
	}
	root->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0)
		return fail_errno(errno, "open rootfs %s", path);
	return 0;
}

/* ---- MOUNT ----------------------------------------------------------------- */

static int open_target(struct c_root *root, const char *path, uint32_t create)
{
	if (create == CREATE_NONE)
		return open_in_root(root->fd, path, O_PATH);
	return mkdir_in_root(root->fd, path, 0755, create);
}

/* A proc or sysfs target must be a directory of the rootfs itself, never
 * followed: a symlink there once let an image point the kernel's files
 * somewhere else (CVE-2019-16884). The fd checked is the fd mounted on.
 * Returns -2 (errno 0) for "not an ordinary directory". */
static int open_kernfs_target(struct c_root *root, const struct r_mount *m)
{
	struct stat st;
	int fd = open_in_root(root->fd, m->target, O_PATH | O_NOFOLLOW);

	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		fd = open_target(root, m->target, m->create);
		if (fd < 0)
			return -1;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		errno = 0;
		return -2;
	}
	return fd;
}

/* Makes the mount a MOUNT record asks for, returning 0; the follow-up steps
 * (remount, propagation, attributes) are the caller's. */
static int mount_new(const struct r_mount *m, struct c_root *root, int bind, int tree_fd)
{
	char src[64], dst[64];
	int srcfd = -1, tfd, rc;

	if (tree_fd >= 0) {
		/* E made the (id-mapped) copy of the source; it only has to be
		 * attached, onto the target resolved beneath the root. */
		tfd = (m->options & MOUNT_OPT_KERNFS_DIR) ? open_kernfs_target(root, m)
							  : open_target(root, m->target, m->create);
		if (tfd == -2) {
			close(tree_fd);
			return fail("error mounting \"%s\" to rootfs at \"%s\": filesystem \"%s\" must be mounted on ordinary directory",
				    m->source, m->target, m->fstype);
		}
		if (tfd < 0) {
			int e = errno;
			close(tree_fd);
			return fail_errno(e, "mount %s to %s", m->source, m->target);
		}
		rc = (int)syscall(SYS_move_mount, tree_fd, "", tfd, "",
				  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
		if (rc < 0) {
			int e = errno;
			close(tree_fd);
			close(tfd);
			return fail_errno(e, "mount %s to %s", m->source, m->target);
		}
		close(tree_fd);
		close(tfd);
		return 0;
	}
	if (bind) {
		if (m->options & MOUNT_OPT_SRC_IN_ROOT)
			srcfd = open_in_root(root->fd, m->source, O_PATH);
		else
			srcfd = open(m->source, O_PATH | O_CLOEXEC);
		if (srcfd < 0)
			return fail_errno(errno, "mount %s to %s: open source", m->source, m->target);
	}
	if (m->options & MOUNT_OPT_KERNFS_DIR)
		tfd = open_kernfs_target(root, m);
	else
		tfd = open_target(root, m->target, m->create);
	if (tfd == -2) {
		close_quiet(srcfd);
		return fail("error mounting \"%s\" to rootfs at \"%s\": filesystem \"%s\" must be mounted on ordinary directory",
			    m->source, m->target, m->fstype);
	}
	if (tfd < 0) {
		close_quiet(srcfd);
		return fail_errno(errno, "mount %s to %s", m->source, m->target);
	}
	proc_fd_path(dst, tfd);
	if (bind)
		rc = mount(proc_fd_path(src, srcfd), dst, NULL,
			   MS_BIND | (unsigned long)(m->flags & MS_REC), NULL);
	else if (m->options & MOUNT_OPT_PROC_PIDNS)
		rc = pidns_mount_proc(m, tfd);
	else
		rc = mount(m->source, dst, m->fstype, (unsigned long)m->flags,
			   m->data[0] ? m->data : NULL);
	if (rc < 0) {
		int e = errno;
		close_quiet(srcfd);
		close(tfd);
		return fail_errno(e, "mount %s to %s", m->source, m->target);
	}
	close_quiet(srcfd);
	close(tfd);
	return 0;
}

int c_mount(const struct r_mount *m, struct c_root *root, int tree_fd)
{
	char dst[64];
	int bind = (m->options & MOUNT_OPT_BIND) != 0;
	/* No filesystem type and no bind: the record changes the mount that is
	 * already at the target instead of making one. */
	int modify = !bind && !m->fstype[0];
	int remount = (m->options & MOUNT_OPT_REMOUNT) || (modify && (m->flags & MS_REMOUNT));
	int nfd;

	if (!modify && mount_new(m, root, bind, tree_fd) < 0)
		return -1;
	if (!remount && !m->propagation && !m->attr_set && !m->attr_clr)
		return 0;

	/* The fd a new mount was made on names the directory underneath; the
	 * follow-up steps need the new mount's root, which a fresh resolution
	 * finds. */
	nfd = open_in_root(root->fd, m->target, O_PATH);
	if (nfd < 0)
		return fail_errno(errno, "%s %s", modify ? "remount" : "reopen mount", m->target);
	if (remount) {
		unsigned long fl;
		if (modify)
			fl = MS_REMOUNT | ((unsigned long)m->flags & ~(unsigned long)MS_REC);
		else
			fl = MS_REMOUNT | (bind ? MS_BIND : 0) |
			     ((unsigned long)m->flags & ~(unsigned long)(MS_REC | MS_BIND));
		if (remount_fd(nfd, fl, (fl & MS_BIND) || !m->data[0] ? NULL : m->data) < 0) {
			int e = errno;
			close(nfd);
			return fail_errno(e, "remount %s", m->target);
		}
	}
	if (m->propagation &&
	    mount(NULL, proc_fd_path(dst, nfd), NULL, (unsigned long)m->propagation, NULL) < 0) {
		int e = errno;
		close(nfd);
		return fail_errno(e, "set propagation of %s", m->target);
	}
	if ((m->attr_set || m->attr_clr) &&
	    mount_setattr_fd(nfd, m->attr_set, m->attr_clr,
			     (m->options & MOUNT_OPT_RECURSIVE_ATTR) != 0) < 0) {
		int e = errno;
		close(nfd);
		return fail_errno(e, "mount_setattr %s", m->target);
	}
	close(nfd);
	return 0;
}

/* ---- SYMLINK / MKDIR --------------------------------------------------- */

int c_symlink(const struct rec *r, struct c_root *root)
{
	const char *content = r->u.symlink.content, *path = r->u.symlink.path;
	char name[NAME_MAX + 1], buf[PATH_MAX];
	int pfd = open_parent_in_root(root->fd, path, name, sizeof name);
	ssize_t n;

	if (pfd < 0)
		return fail_errno(errno, "symlink %s %s", content, path);
	if (symlinkat(content, pfd, name) == 0) {
		close(pfd);
		return 0;
	}
	if (errno != EEXIST) {
		int e = errno;
		close(pfd);
		return fail_errno(e, "symlink %s %s", content, path);
	}
	n = readlinkat(pfd, name, buf, sizeof buf - 1);
	close(pfd);
	if (n >= 0) {
		buf[n] = 0;
		if (strcmp(buf, content) == 0)
			return 0;
	}
	return fail_errno(EEXIST, "symlink %s %s", content, path);
}

int c_symlink_replace(const struct rec *r, struct c_root *root)
{
	const char *content = r->u.symlink.content, *path = r->u.symlink.path;
	char name[NAME_MAX + 1];
	int pfd = open_parent_in_root(root->fd, path, name, sizeof name), e;

	if (pfd < 0)
		return fail_errno(errno, "symlink %s %s", content, path);
	/* As Go's os.Remove: a file or an empty directory; nothing there is fine. */
	if (unlinkat(pfd, name, 0) < 0 && errno == EISDIR)
		unlinkat(pfd, name, AT_REMOVEDIR);
	if (symlinkat(content, pfd, name) == 0) {
		close(pfd);
		return 0;
	}
	e = errno;
	close(pfd);
	return fail_errno(e, "symlink %s %s", content, path);
}

int c_mkdir(const struct rec *r, struct c_root *root)
{
	struct stat st;
	int fd = mkdir_in_root(root->fd, r->u.mkdir.path, r->u.mkdir.mode, CREATE_DIR);
	if (fd < 0)
		return fail_errno(errno, "mkdir %s", r->u.mkdir.path);
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		return fail_errno(ENOTDIR, "mkdir %s", r->u.mkdir.path);
	}
	close(fd);
	return 0;
}

/* ---- root change ----------------------------------------------------------- */

static int pivot(struct c_root *root)
{
	int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0)
		return fail_errno(errno, "open /");
	if (fchdir(root->fd) < 0) {
		close(oldroot);
		return fail_errno(errno, "chdir %s", root->host_path);
	}
	/* pivot_root(".", ".") stacks the old root on top of the new one, so no
	 * directory for it is needed inside the rootfs. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		close(oldroot);
		return fail_errno(errno, "pivot_root %s", root->host_path);
	}
	if (fchdir(oldroot) < 0) {
		close(oldroot);
		return fail_errno(errno, "chdir old root");
	}
	close(oldroot);
	/* rslave first, so the detach below cannot propagate to the host. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return fail_errno(errno, "make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		return fail_errno(errno, "unmount old root");
	if (chdir("/") < 0)
		return fail_errno(errno, "chdir /");
	return 0;
}

int c_change_root(uint32_t how, struct c_root *root)
{
	if (how == CHROOT_PIVOT) {
		if (pivot(root) < 0)
			return -1;
	} else {
		/* Unmounting in a shared namespace would reach the host's peers. */
		if (how == CHROOT_MOVE && !(root->propagation & MS_SHARED) && hide_host_kernfs(root) < 0)
			return -1;
		if (fchdir(root->fd) < 0)
			return fail_errno(errno, "chdir %s", root->host_path);
		if (how == CHROOT_MOVE && mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return fail_errno(errno, "move rootfs %s to /", root->host_path);
		if (chroot(".") < 0)
			return fail_errno(errno, "chroot %s", root->host_path);
		if (chdir("/") < 0)
			return fail_errno(errno, "chdir /");
	}
	/* Propagation applies to the mount that is now "/"; setting it on the
	 * rootfs before the change could have shared our mounts with the host.
	 * Private is already in place from the setup. */
	if (how != CHROOT_ONLY && root->propagation && !(root->propagation & MS_PRIVATE) &&
	    mount(NULL, "/", NULL, (unsigned long)root->propagation, NULL) < 0)
		return fail_errno(errno, "set propagation of /");

	close(root->fd);
	root->fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0)
		return fail_errno(errno, "open /");
	return 0;
}

/* ---- after the root change ------------------------------------------------ */

int c_root_readonly(void)
{
	unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;
	if (mount(NULL, "/", NULL, fl, NULL) == 0)
		return 0;
	if (mount(NULL, "/", NULL, fl | locked_flags(-1), NULL) == 0)
		return 0;
	return fail_errno(errno, "remount / read-only");
}

/* The /dev/null we bind over masked files comes from the container's /dev;
 * an image could make it a symlink to a host-sensitive file or a regular
 * file (CVE-2025-31133), so insist on the real character device. */
static int open_devnull(struct c_root *root)
{
	struct stat st;
	if (devnull_fd >= 0)
		return devnull_fd;
	devnull_fd = open_in_root(root->fd, "/dev/null", O_PATH);
	if (devnull_fd < 0)
		return fail_errno(errno, "open /dev/null");
	if (fstat(devnull_fd, &st) < 0)
		return fail_errno(errno, "stat /dev/null");
	if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		close(devnull_fd);
		devnull_fd = -1;
		return fail("/dev/null is not the null device");
	}
	return devnull_fd;
}

int c_mask_path(const char *path, struct c_root *root)
{
	char src[64], dst[64];
	struct stat st;
	int fd = open_in_root(root->fd, path, O_PATH), nul, rc;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return fail_errno(errno, "mask %s", path);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail_errno(errno, "mask %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		/* As runc 1.3: the smallest tmpfs there is, nothing to fill. */
		rc = mount("tmpfs", proc_fd_path(dst, fd), "tmpfs", MS_RDONLY, "size=4k,nr_inodes=1");
	} else {
		nul = open_devnull(root);
		if (nul < 0) {
			close(fd);
			return err_wrap("mask %s", path);
		}
		rc = mount(proc_fd_path(src, nul), proc_fd_path(dst, fd), NULL, MS_BIND, NULL);
	}
	if (rc < 0) {
		int e = errno;
		close(fd);
		return fail_errno(e, "mask %s", path);
	}
	close(fd);
	return 0;
}

int c_readonly_path(const char *path, struct c_root *root)
{
	char p[64];
	int fd = open_in_root(root->fd, path, O_PATH), nfd;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return fail_errno(errno, "readonly path %s", path);
	}
	proc_fd_path(p, fd);
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		int e = errno;
		close(fd);
		return fail_errno(e, "readonly path %s", path);
	}
	close(fd);
	nfd = open_in_root(root->fd, path, O_PATH);
	if (nfd < 0)
		return fail_errno(errno, "readonly path %s", path);
	if (mount_setattr_fd(nfd, MOUNT_ATTR_RDONLY, 0, 1) < 0) {
		if (errno != ENOSYS ||
		    remount_fd(nfd, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			int e = errno;
			close(nfd);
			return fail_errno(e, "readonly path %s", path);
		}
	}
	close(nfd);
	return 0;
}

/* A mount the plan made writable so that it could be filled (runc's read-only
 * /dev: devpts and the device nodes go in first) becomes read-only now, as a
 * bind remount: only this mount, not the filesystem. */
int c_remount_readonly(const struct rec *r, struct c_root *root)
{
	const char *path = r->u.remount_ro.path;
	int fd = open_in_root(root->fd, path, O_PATH);

	if (fd < 0)
		return fail_errno(errno, "remount %s read-only", path);
	if (remount_fd(fd, MS_BIND | MS_REMOUNT | MS_RDONLY | (unsigned long)r->u.remount_ro.flags, NULL) < 0) {
		int e = errno;
		close(fd);
		return fail_errno(e, "remount %s read-only", path);
	}
	close(fd);
	return 0;
}
