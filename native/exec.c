/*
 * The last steps before the user program runs: finding it the way Go's
 * exec.LookPath does (tsrun's error texts must match runc's), the LSM exec
 * label, and execve itself (seccomp is in seccomp.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Returns 0 if file is executable for us, else an errno-style error with
 * g_err-ready text in *why (Go's findExecutable). */
static int find_executable(const char *file, char *why, size_t cap)
{
	struct stat st;
	if (stat(file, &st) < 0) {
		snprintf(why, cap, "stat %s: %s", file, errno_text(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(why, cap, "%s", errno_text(EACCES));
		return -1;
	}
	if (faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM) {
		snprintf(why, cap, "%s", errno_text(errno));
		return -1;
	}
	if (st.st_mode & 0111)
		return 0;
	snprintf(why, cap, "%s", errno_text(EACCES));
	return -1;
}

int exec_lookup(const struct plan *p, char **resolved)
{
	const char *file = p->argv[0], *path = NULL;
	char why[4200];

	if (strchr(file, '/')) {
		if (find_executable(file, why, sizeof why) < 0)
			return fail("exec: \"%s\": %s", file, why);
		*resolved = (char *)file;
		return 0;
	}
	/* The last PATH wins, as with a Go os.Setenv sequence. */
	for (size_t i = 0; i < p->envc; i++)
		if (strncmp(p->envp[i], "PATH=", 5) == 0)
			path = p->envp[i] + 5;
	if (!path)
		path = DEFAULT_PATH;
	while (1) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		size_t need = (n ? n : 1) + 1 + strlen(file) + 1;
		char *cand = xmalloc(need);
		if (n)
			memcpy(cand, path, n);
		else
			cand[0] = '.';
		snprintf(cand + (n ? n : 1), need - (n ? n : 1), "/%s", file);
		if (find_executable(cand, why, sizeof why) == 0) {
			if (cand[0] != '/') {
				free(cand);
				return fail("exec: \"%s\": cannot run executable found relative to current directory",
					    file);
			}
			*resolved = cand;
			return 0;
		}
		free(cand);
		if (!end)
			break;
		path = end + 1;
	}
	return fail("exec: \"%s\": executable file not found in $PATH", file);
}

int exec_write_lsm(const struct rec *r)
{
	const char *label = r->u.lsm.label;
	if (r->u.lsm.kind == LSM_APPARMOR) {
		char buf[PLAN_MAX_STR + 8];
		int n = snprintf(buf, sizeof buf, "exec %s", label);
		if (write_proc_file_at(AT_FDCWD, "/proc/self/attr/apparmor/exec", buf, (size_t)n) == 0)
			return 0;
		/* Kernels without LSM stacking only have the generic file. */
		if (errno == ENOENT &&
		    write_proc_file_at(AT_FDCWD, "/proc/self/attr/exec", buf, (size_t)n) == 0)
			return 0;
		if (errno == EXDEV)
			return fail("apply apparmor profile %s: /proc is not procfs", label);
		return fail_errno(errno, "apply apparmor profile %s", label);
	}
	if (r->u.lsm.kind == LSM_SELINUX_EXEC) {
		if (write_proc_file_at(AT_FDCWD, "/proc/self/attr/exec", label, strlen(label)) < 0)
			return errno == EXDEV ? fail("set selinux exec label %s: /proc is not procfs", label)
					      : fail_errno(errno, "set selinux exec label %s", label);
	}
	return 0;
}

void exec_final(const struct plan *p, const char *path)
{
	execve(path, p->argv, p->envp);
	/* The sync socket is gone: stderr is the only channel left, and 127 is
	 * what a shell reports for a command it could not run. */
	dprintf(2, "tsrun: exec %s: %s\n", path, errno_text(errno));
	_exit(127);
}
