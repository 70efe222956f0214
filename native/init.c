/*
 * C, the container init: from the release by E to execve of the user
 * program. Any failure before READY is reported on the sync socket by die();
 * after READY only stderr is left.
 */
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"
#include <sys/sysmacros.h>

/*
 * As runc (reOpenDevNull): fds 0-2 that are the host's /dev/null become the
 * container's own /dev/null once the root is changed. Otherwise they stay on a
 * host mount that CRIU cannot find in the container's mount namespace, and a
 * checkpoint fails. Without a null device of its own the fds stay as they are.
 */
static void reopen_dev_null(void)
{
	struct stat st;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		close(fd);
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (fstat(i, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
			dup3(fd, i, 0);
	}
	close(fd);
}

static void hook_barrier(uint32_t point)
{
	uint8_t buf[4 + sizeof g_err];
	uint32_t len;
	int tag;

	if (sync_send_u32(M_HOOK_POINT, point) < 0)
		_exit(1);
	tag = sync_recv(buf, sizeof buf, &len);
	if (tag == M_CONTINUE && len == 0)
		return;
	/* tsrun reported the hook failure itself, or is gone. */
	if (tag == M_ERROR || tag < 0)
		_exit(1);
	fail("hook barrier %u: unexpected message %d", point, tag);
	die();
}

static void setup_rootfs(const struct plan *p)
{
	struct c_root root = { .fd = -1 };
	int idmap_tree = -1; /* from the MOUNT_IDMAP just before */

	for (size_t i = 0; i < p->nrecs; i++) {
		const struct rec *r = &p->recs[i];
		int rc = 0;
		switch (r->tag) {
		case T_ROOTFS:
			rc = c_prepare_rootfs(r, &root);
			break;
		case T_MOUNT_IDMAP:
			idmap_tree = r->u.idmap_mount.tree_fd;
			break;
		case T_MOUNT:
			rc = c_mount(&r->u.mount, &root, idmap_tree >= 0 ? idmap_tree : r->u.mount.src_fd);
			idmap_tree = -1;
			break;
		case T_SYMLINK:
			rc = c_symlink(r, &root);
			break;
		case T_SYMLINK_REPLACE:
			rc = c_symlink_replace(r, &root);
			break;
		case T_MKNOD:
			rc = c_mknod(r, &root);
			break;
		case T_BIND_DEVICE:
			rc = c_bind_device(r, &root);
			break;
		case T_MKDIR:
		case T_MKDIR_LATE:
			rc = c_mkdir(r, &root);
			break;
		case T_HOOK_BARRIER:
			sync_log(LOG_DEBUG, "init: waiting at hook point %u", r->u.u32);
			hook_barrier(r->u.u32);
			break;
		case T_HOOK_CREATE_CONTAINER:
			/* runc runs them from the rootfs directory, before the root change. */
			if (fchdir(root.fd) < 0) {
				rc = fail_errno(errno, "chdir to rootfs %s", root.host_path);
				break;
			}
			sync_log(LOG_DEBUG, "init: createContainer hook #%u", r->u.hook.index);
			rc = run_hook("createContainer", &r->u.hook, p->envp);
			break;
		case T_CHANGE_ROOT:
			rc = c_change_root(r->u.u32, &root);
			if (rc == 0 && p->pidns_late)
				rc = pidns_after_root_change();
			if (rc == 0)
				sync_log(LOG_DEBUG, "init: root changed (%s)",
					 r->u.u32 == CHROOT_PIVOT ? "pivot_root"
					 : r->u.u32 == CHROOT_MOVE ? "move+chroot" : "chroot");
			if (rc == 0)
				reopen_dev_null();
			/* As runc: after the user's mounts (devpts among them) and the root
			 * change, before they are made read-only or masked. */
			if (rc == 0 && p->console)
				rc = c_setup_console(p);
			break;
		case T_ROOT_READONLY:
			rc = c_root_readonly();
			break;
		case T_MASK_PATH:
			rc = c_mask_path(r->u.str, &root);
			break;
		case T_REMOUNT_READONLY:
			rc = c_remount_readonly(r, &root);
			break;
		case T_READONLY_PATH:
			rc = c_readonly_path(r->u.str, &root);
			break;
		case T_SYSCTL:
			rc = proc_sysctl(r->u.sysctl.key, r->u.sysctl.value, root.fd);
			break;
		case T_HOSTNAME:
			if (sethostname(r->u.str, strlen(r->u.str)) < 0)
				rc = fail_errno(errno, "sethostname");
			break;
		case T_DOMAINNAME:
			if (setdomainname(r->u.str, strlen(r->u.str)) < 0)
				rc = fail_errno(errno, "setdomainname");
			break;
		default:
			break;
		}
		if (rc < 0)
			die();
	}
	close_quiet(root.fd);
}

/* The user program starts with default dispositions and nothing blocked,
 * whatever tsrun's environment did; handled signals are reset by execve, but
 * ignored ones and the mask would be inherited. */
static void reset_signals(void)
{
	uint64_t none = 0;
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
			sa.sa_handler = SIG_DFL;
			sigaction(s, &sa, NULL);
		}
	}
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

static void finalize_and_exec(const struct plan *p, int fifo_fd, mode_t orig_umask)
{
	char cwd[PATH_MAX + 1], fifo_path[64];
	const char *dir = p->cwd ? p->cwd->u.str : "/";
	char *resolved = NULL;
	uint32_t nfds = p->preserve_fds ? p->preserve_fds->u.u32 : 0;
	mode_t um = orig_umask;
	int chdir_later = 1;

	for (size_t i = 0; i < p->nrecs; i++)
		if (p->recs[i].tag == T_RLIMIT && proc_rlimit(&p->recs[i]) < 0)
			die();
	if (p->personality && proc_personality(p->personality->u.u64) < 0)
		die();
	if (p->sched && proc_scheduler(&p->sched->u.sched) < 0)
		die();
	if (p->ioprio && proc_ioprio(p->ioprio->u.ioprio.class, p->ioprio->u.ioprio.level) < 0)
		die();
	if (p->keyring && proc_session_keyring(p->keyring->u.str) < 0)
		die();

	/* Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
	 * the identity switch below may drop: install it now, as runc does. */
	if (p->seccomp && !p->nnp && seccomp_install(p) < 0)
		die();

	/* As runc: the cwd is entered as root first, so a directory root can
	 * reach and the user cannot still works; a permission error is tried
	 * again as the user (a volume chowned to it that root may not enter). */
	if (chdir(dir) == 0)
		chdir_later = 0;
	else if (errno != EACCES && errno != EPERM) {
		fail_errno(errno, "chdir to cwd (\"%s\") set in config.json failed", dir);
		die();
	}

	if (p->caps && (caps_keep(1) < 0 || caps_drop_bounding(p->caps->u.caps.bounding) < 0))
		die();
	if (p->user && proc_switch_user(&p->user->u.user) < 0)
		die();
	if (chdir_later && chdir(dir) < 0) {
		fail_errno(errno, "chdir to cwd (\"%s\") set in config.json failed", dir);
		die();
	}
	if (p->caps && (caps_set(&p->caps->u.caps) < 0 || caps_keep(0) < 0))
		die();
	if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fail_errno(errno, "prctl PR_SET_NO_NEW_PRIVS");
		die();
	}
	if (p->user && p->user->u.user.umask != UMASK_LEAVE)
		um = (mode_t)p->user->u.user.umask;
	umask(um);

	/* The kernel prefixes "(unreachable)" (glibc: ENOENT) when the cwd is not
	 * beneath our root, which would be a way out of the container. Any other
	 * failure (a seccomp filter denying getcwd) is reported as such. */
	if (!getcwd(cwd, sizeof cwd)) {
		if (errno == ENOENT)
			fail("current working directory is outside of container mount namespace root -- possible container breakout detected");
		else
			fail_errno(errno, "failed to verify if current working directory is safe");
		die();
	}
	if (cwd[0] != '/') {
		fail("current working directory is not absolute -- possible container breakout detected: cwd is \"%s\"", cwd);
		die();
	}
	if (exec_lookup(p, &resolved) < 0)
		die();
	if (p->affinity && proc_affinity(p->affinity->u.affinity.mask, p->affinity->u.affinity.len) < 0)
		die();
	/* The fifo is reopened through our /proc after READY, when an error can
	 * no longer be reported: make sure now that the path works. */
	if (fifo_fd >= 0) {
		struct stat st;
		struct rlimit rl;
		int probe;
		if (stat(proc_fd_path(fifo_path, fifo_fd), &st) < 0) {
			fail_errno(errno, "open exec fifo %s", fifo_path);
			die();
		}
		/* The rlimits are in force: a RLIMIT_NOFILE too small for the fifo's
		 * fd is reported now, while there is a channel for it. */
		probe = fcntl(fifo_fd, F_DUPFD_CLOEXEC, 0);
		if (probe < 0) {
			int e = errno;
			/* EINVAL: the soft limit is 0, below the lowest fd asked for. */
			if ((e == EMFILE || e == EINVAL) && getrlimit(RLIMIT_NOFILE, &rl) == 0)
				fail_errno(EMFILE, "open exec fifo: RLIMIT_NOFILE soft limit %llu is too low",
					   (unsigned long long)rl.rlim_cur);
			else
				fail_errno(e, "open exec fifo");
			die();
		}
		close(probe);
	}
	reset_signals();
	/* The listener fd must reach the agent before READY, as with runc: so
	 * the filter is installed now, and covers the last steps below too. */
	if (p->seccomp && p->nnp && p->seccomp_listener && seccomp_install(p) < 0)
		die();

	sync_log(LOG_DEBUG, "init: ready, exec %s", resolved);
	fault_point("executor:3");
	if (sync_send(M_READY, NULL, 0) < 0)
		_exit(1);
	fault_point("executor:4");
	close(g_sync_fd);
	g_sync_fd = -1;

	/* The labels and the filter come before the fifo, as with runc: an init
	 * they stop (a profile denying everything) dies before it tells start that
	 * the program runs, and start reports it instead of a bare signal status. */
	for (int k = 0; k < 2; k++)
		if (p->lsm[k] && exec_write_lsm(p->lsm[k]) < 0) {
			dprintf(2, "tsrun: %s\n", g_err);
			_exit(1);
		}
	if (p->seccomp && p->nnp && !p->seccomp_listener && seccomp_install(p) < 0) {
		dprintf(2, "tsrun: %s\n", g_err);
		_exit(1);
	}
	if (fifo_fd >= 0) {
		int w = open(proc_fd_path(fifo_path, fifo_fd), O_WRONLY | O_CLOEXEC);
		if (w < 0 || write(w, "0", 1) != 1) {
			dprintf(2, "tsrun: open exec fifo: %s\n", errno_text(errno));
			_exit(1);
		}
		close(w);
		close(fifo_fd);
	}
	/* Only 0-2 and the preserved fds survive; everything of ours is
	 * O_CLOEXEC as well, in case it sits in a gap of the preserved range. */
	if (syscall(SYS_close_range, 3 + nfds, ~0u, 0) < 0) {
		for (int fd = 3 + (int)nfds; fd < 65536; fd++)
			close(fd);
	}
	/* As runc: after start, with the container's identity and filter. */
	for (size_t i = 0; i < p->nrecs; i++)
		if (p->recs[i].tag == T_HOOK_START_CONTAINER &&
		    run_hook("startContainer", &p->recs[i].u.hook, p->envp) < 0) {
			dprintf(2, "tsrun: %s\n", g_err);
			_exit(1);
		}
	exec_final(p, resolved);
}

void run_init(const struct plan *p, int release_fd, int fifo_fd, mode_t orig_umask)
{
	char b;
	uint32_t users = (p->clone_flags | p->joined_flags) & CLONE_NEWUSER;

	/* EOF means E failed after the clone; it has reported that already. */
	if (read(release_fd, &b, 1) != 1)
		_exit(1);
	close(release_fd);
	c_rootless_released(p);

	/* C stays non-dumpable (from E) until execve, and was born without
	 * any host fd (see spawn_init in main.c): so E, not C, sets
	 * oom_score_adj. */
	/* runc's init is root of its user namespace by uid only when it makes
	 * the IPC namespace, whose mqueue filesystem takes its maker's ids: so
	 * /dev/mqueue is uid 0 and the overflow gid inside, exactly as there. */
	if (users && proc_become_ns_root((p->unshare_flags & CLONE_NEWIPC) != 0) < 0)
		die();
	if (p->unshare_flags && unshare((int)p->unshare_flags) < 0) {
		fail_errno(errno, "unshare namespaces 0x%x", p->unshare_flags);
		die();
	}
	if (users && (p->unshare_flags & CLONE_NEWIPC) && proc_become_ns_root_gid() < 0)
		die();
	/* Modes in the plan are meant literally. */
	umask(0);
	sync_log(LOG_DEBUG, "init: released");
	/* As runc (nsexec), every process starts a session of its own: CRIU dumps a
	 * container only when its init leads its session. With a terminal the console
	 * setup does it (before TIOCSCTTY); with PIDNS_LATE C2 does it (pidns.c). */
	if (!p->console && !p->pidns_late && setsid() < 0) {
		fail_errno(errno, "setsid");
		die();
	}

	if (p->mode == MODE_INIT) {
		setup_rootfs(p);
		sync_log(LOG_DEBUG, "init: rootfs set up");
		if (p->pidns_late)
			pidns_enter(p, fifo_fd);
	} else if (p->console && c_setup_console(p) < 0) {
		die();
	}
	finalize_and_exec(p, fifo_fd, orig_umask);
	_exit(127);
}
