/*
 * Path resolution beneath the container root. The rootfs belongs to the
 * image, so any component may be a symlink meant to point at the host
 * ("/etc", "../../.."). openat2(RESOLVE_IN_ROOT) makes the kernel treat the
 * rootfs fd as "/" for every absolute symlink and "..", atomically; we never
 * build a host path string from container data.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "executor.h"

#define MAX_SYMLINK_HOPS 40

int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how;
	const char *rel = path;
	int fd;

	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	do
		fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd;
}

static int append(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst + *len, s, n);
	*len += n;
	dst[*len] = 0;
	return 0;
}

/*
 * mkdir -p beneath the root, returning an O_PATH fd of the last component.
 * Each missing component is created with mkdirat() relative to an O_PATH fd
 * of its (already safely resolved) parent, so nothing is ever created outside
 * the root. A dangling symlink on the way is followed the way the kernel
 * would, but by rewriting the path and resolving again beneath the root:
 * e.g. /var/run -> ../run with no /run yet creates <rootfs>/run.
 * Errors are returned via errno; the caller supplies context.
 */
int mkdir_in_root(int rootfd, const char *path, mode_t mode, uint32_t create)
{
	char cur[PATH_MAX];
	size_t curlen = strlen(path);

	if (curlen >= sizeof cur) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(cur, path, curlen + 1);

	for (int hops = 0; hops <= MAX_SYMLINK_HOPS; hops++) {
		int parent, fd;
		size_t s = 0;
		int restart = 0;

		fd = open_in_root(rootfd, cur, O_PATH);
		if (fd >= 0 || errno != ENOENT)
			return fd;

		parent = open_in_root(rootfd, "/", O_PATH);
		if (parent < 0)
			return -1;
		while (!restart) {
			size_t e;
			char name[NAME_MAX + 1], save;
			int last;

			while (cur[s] == '/')
				s++;
			if (!cur[s])
				return parent;
			e = s;
			while (cur[e] && cur[e] != '/')
				e++;
			if (e - s > NAME_MAX) {
				close_quiet(parent);
				errno = ENAMETOOLONG;
				return -1;
			}
			last = 1;
			for (size_t k = e; cur[k]; k++)
				if (cur[k] != '/')
					last = 0;

			save = cur[e];
			cur[e] = 0;
			fd = open_in_root(rootfd, cur, O_PATH);
			cur[e] = save;
			if (fd >= 0) {
				close(parent);
				parent = fd;
				s = e;
				continue;
			}
			if (errno != ENOENT) {
				close_quiet(parent);
				return -1;
			}

			memcpy(name, cur + s, e - s);
			name[e - s] = 0;
			if (last && create == CREATE_FILE) {
				fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					    mode);
				if (fd >= 0)
					close(fd);
			} else {
				fd = mkdirat(parent, name, last ? mode : (create == CREATE_FILE ? 0755 : mode));
			}
			if (fd < 0 && errno == EEXIST) {
				char target[PATH_MAX], next[PATH_MAX];
				size_t nlen = 0;
				ssize_t tl = readlinkat(parent, name, target, sizeof target - 1);
				if (tl < 0) {
					/* Lost a race with something creating it: resolve again. */
					if (errno == EINVAL) {
						restart = 1;
						break;
					}
					close_quiet(parent);
					return -1;
				}
				target[tl] = 0;
				next[0] = 0;
				if (target[0] != '/' && append(next, sizeof next, &nlen, cur, s) < 0) {
					close_quiet(parent);
					return -1;
				}
				if (append(next, sizeof next, &nlen, target, (size_t)tl) < 0 ||
				    append(next, sizeof next, &nlen, "/", 1) < 0 ||
				    append(next, sizeof next, &nlen, cur + e, strlen(cur + e)) < 0) {
					close_quiet(parent);
					return -1;
				}
				memcpy(cur, next, nlen + 1);
				restart = 1;
				break;
			}
			if (fd < 0) {
				close_quiet(parent);
				return -1;
			}
			save = cur[e];
			cur[e] = 0;
			fd = open_in_root(rootfd, cur, O_PATH);
			cur[e] = save;
			close(parent);
			if (fd < 0)
				return -1;
			parent = fd;
			s = e;
		}
		close(parent);
	}
	errno = ELOOP;
	return -1;
}

/* Splits a container path into an O_PATH fd of its (created) parent and the
 * last component. */
int open_parent_in_root(int rootfd, const char *path, char *name, size_t namecap)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);
	const char *slash;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = 0;
	slash = strrchr(dir, '/');
	if (!slash[1] || strcmp(slash + 1, ".") == 0) {
		errno = EINVAL;
		return -1;
	}
	if (strlen(slash + 1) >= namecap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(name, slash + 1);
	dir[slash - dir + 1] = 0;
	return mkdir_in_root(rootfd, dir, 0755, CREATE_DIR);
}

