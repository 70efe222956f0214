/*
 * CVE-2019-5736: a container process that can open /proc/<executor pid>/exe
 * for writing could overwrite the executor binary on the host. Running from a
 * sealed memfd copy makes that file immutable, so every executor process
 * (E and C, which share E's image until it execs) is safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define WANT_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

/* The seals themselves are the proof: a regular file (a writable host binary)
 * answers F_GET_SEALS with EINVAL, so no argv/env marker is needed and none
 * can be forged. */
static int running_sealed(int exefd)
{
	int seals = fcntl(exefd, F_GET_SEALS);
	return seals >= 0 && (seals & WANT_SEALS) == WANT_SEALS;
}

int ensure_sealed_self(char **argv)
{
	int exefd, memfd, seals;
	struct stat st;
	off_t left;

	exefd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exefd < 0)
		return fail_errno(errno, "open /proc/self/exe");
	if (running_sealed(exefd)) {
		close(exefd);
		return 0;
	}
	if (fstat(exefd, &st) < 0) {
		close(exefd);
		return fail_errno(errno, "stat /proc/self/exe");
	}
	/* MFD_EXEC keeps the copy executable where vm.memfd_noexec would make
	 * memfds non-executable by default; older kernels reject the flag. */
	memfd = memfd_create("tsrun-executor", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (memfd < 0 && errno == EINVAL)
		memfd = memfd_create("tsrun-executor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0) {
		close(exefd);
		return fail_errno(errno, "memfd_create");
	}
	for (left = st.st_size; left > 0;) {
		ssize_t n = sendfile(memfd, exefd, NULL, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(exefd);
			close(memfd);
			return fail_errno(e, "copy executor to memfd");
		}
		left -= n;
	}
	close(exefd);
	if (fcntl(memfd, F_ADD_SEALS, WANT_SEALS) < 0) {
		int e = errno;
		close(memfd);
		return fail_errno(e, "seal executor memfd");
	}
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || (seals & WANT_SEALS) != WANT_SEALS) {
		close(memfd);
		return fail("seal executor memfd: seals not applied");
	}
	syscall(SYS_execveat, memfd, "", argv, environ, AT_EMPTY_PATH);
	{
		int e = errno;
		close(memfd);
		return fail_errno(e, "re-exec executor from memfd");
	}
}
