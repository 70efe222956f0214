/*
 * tsrun-executor: carries out an init plan compiled by the TypeScript runtime.
 * The byte format and the meaning of every record live in PLAN-FORMAT.md; this
 * header only mirrors it.
 */
#ifndef TSRUN_EXECUTOR_H
#define TSRUN_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- plan framing ------------------------------------------------------ */

#define PLAN_MAGIC "TSRNPLAN"
#define PLAN_VERSION 1u
#define PLAN_HEADER_LEN 16u
#define PLAN_MAX_BODY (32u << 20)
#define PLAN_MAX_STR 65535u
#define REC_HEADER_LEN 8u

enum plan_tag {
	T_MODE = 1,
	T_NS_JOIN = 10,
	T_NS_CLONE = 11,
	T_TIMENS_OFFSETS = 12,
	T_UID_MAP = 13,
	T_GID_MAP = 14,
	T_CGROUP_PROCS = 15,
	T_EXEC_FIFO = 16,
	T_NS_UNSHARE = 17,
	T_IDMAP_USERNS = 18,
	T_IDMAP_USERNS_PATH = 19,
	T_ROOTFS = 20,
	T_MOUNT = 21,
	T_SYMLINK = 22,
	T_MKNOD = 23,
	T_BIND_DEVICE = 24,
	T_MKDIR = 25,
	T_MOUNT_IDMAP = 26,
	T_SYMLINK_REPLACE = 27,
	T_CHANGE_ROOT = 30,
	T_ROOT_READONLY = 31,
	T_MASK_PATH = 32,
	T_READONLY_PATH = 33,
	T_SYSCTL = 34,
	T_HOSTNAME = 35,
	T_DOMAINNAME = 36,
	T_MKDIR_LATE = 37,
	T_REMOUNT_READONLY = 38,
	T_RLIMIT = 40,
	T_OOM_SCORE_ADJ = 41,
	T_PERSONALITY = 42,
	T_SCHEDULER = 43,
	T_IOPRIO = 44,
	T_CPU_AFFINITY = 45,
	T_NO_NEW_PRIVS = 46,
	T_USER = 47,
	T_CAPS = 48,
	T_SESSION_KEYRING = 49,
	T_LSM_LABEL = 50,
	T_CONSOLE = 51,
	T_CWD = 60,
	T_ENV = 61,
	T_ARG = 62,
	T_PRESERVE_FDS = 63,
	T_SECCOMP = 64,
	T_HOOK_BARRIER = 65,
	T_HOOK_CREATE_CONTAINER = 70,
	T_HOOK_START_CONTAINER = 71,
	T_SECCOMP_LISTENER = 66,
	T_RELEASE_BARRIER = 67,
	T_PIDNS_LATE = 68,
	T_IDMAP_TOOLS = 69,
};

enum msg_tag {
	M_PID = 100,
	M_READY = 101,
	M_ERROR = 102,
	M_HOOK_POINT = 103,
	M_LOG = 104,
	M_INIT_PID = 105,
	M_CONTINUE = 200,
};

/* HOOK_POINT values: 0 = C's HOOK_BARRIER, 1 = E's RELEASE_BARRIER. */
enum { HOOK_POINT_MOUNTS = 0, RELEASE_POINT = 1 };

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

#define MODE_INIT 0u
#define MODE_EXEC 1u

/* MODE flags */
#define MODE_FOREGROUND 1u
#define MODE_WAIT 2u

#define ROOTFS_NEW_MNTNS 1u
#define ROOTFS_HOST_MNTNS 2u

#define MOUNT_OPT_BIND 1u
#define MOUNT_OPT_REMOUNT 2u
#define MOUNT_OPT_RECURSIVE_ATTR 4u
#define MOUNT_OPT_SRC_IN_ROOT 8u
#define MOUNT_OPT_PROC_PIDNS 16u
#define MOUNT_OPT_KERNFS_DIR 32u
#define MOUNT_OPT_ALL 63u

#define MOUNT_IDMAP_RECURSIVE 1u
#define MAX_IDMAP_USERNS 64
#define MAX_IDMAP_MOUNTS 256

#define CREATE_NONE 0u
#define CREATE_DIR 1u
#define CREATE_FILE 2u

#define CHROOT_PIVOT 0u
#define CHROOT_MOVE 1u
#define CHROOT_ONLY 2u

#define LSM_APPARMOR 0u
#define LSM_SELINUX_EXEC 1u
#define LSM_SELINUX_MOUNT 2u

#define UMASK_LEAVE 0xffffffffu

#define CONSOLE_BIND_DEV 1u
#define CONSOLE_CLEAR_ONLCR 2u

/* ---- decoded records ----------------------------------------------------
 * Strings are NUL-terminated copies; the decoder has already rejected
 * embedded NULs, so C string functions see the whole value. */

struct r_mount {
	char *source, *target, *fstype, *data;
	uint64_t flags, propagation, attr_set, attr_clr;
	uint32_t create, options;
	/* A detached copy of a host bind source that E made before entering
	 * the user namespace (C inherits it and attaches it), or -1. */
	int src_fd;
};

struct r_sched {
	uint32_t policy, priority;
	int32_t nice;
	uint64_t flags, runtime, deadline, period;
};

struct r_user {
	uint32_t uid, gid, umask, ngids;
	uint32_t *gids;
};

struct r_hook {
	uint32_t index, timeout, env_given;
	char *path;
	char **argv, **envp; /* NULL-terminated */
	/* the state JSON is head + our pid + tail */
	char *state_head, *state_tail;
};

struct r_caps {
	uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct rec {
	uint16_t tag;
	union {
		struct { uint32_t mode, flags; } mode;
		struct { uint32_t flag; char *path; } ns_join;
		uint32_t u32; /* NS_CLONE, NS_UNSHARE, CHANGE_ROOT, PRESERVE_FDS, HOOK_BARRIER */
		int32_t i32; /* OOM_SCORE_ADJ */
		uint64_t u64; /* PERSONALITY */
		char *str; /* single-string records */
		struct { char *path; uint64_t propagation; uint32_t flags; } rootfs;
		struct r_mount mount;
		struct { char *content, *path; } symlink;
		struct { char *path; uint32_t mode, major, minor, uid, gid; } mknod;
		struct { char *host, *path; } bind_dev;
		struct { char *path; uint32_t mode; } mkdir;
		struct { char *path; uint64_t flags; } remount_ro;
		struct { char *key, *value; } sysctl;
		struct { char *uid_map, *gid_map; } idmap_userns;
		/* tree_fd: the detached, id-mapped copy of the next MOUNT's source,
		 * made by E before the clone (-1 until then); C moves it into place. */
		struct { uint32_t userns, flags; int tree_fd; } idmap_mount;
		struct { uint32_t resource; uint64_t soft, hard; } rlimit;
		struct r_sched sched;
		struct { uint32_t class, level; } ioprio;
		struct { uint8_t *mask; uint32_t len; } affinity;
		struct r_user user;
		struct r_caps caps;
		struct { uint32_t kind; char *label; } lsm;
		struct { uint32_t flags, len; uint8_t *prog; } seccomp;
		struct r_hook hook;
		struct { uint32_t fd, rows, cols, flags; } console;
		struct { char *path, *json; uint32_t noffsets; uint32_t *offsets; } listener;
		/* IDMAP_TOOLS: how an unprivileged E gets C's maps written (rootless.c) */
		struct { uint32_t flags; char *newuidmap, *newgidmap; } idmap_tools;
	} u;
};

/* Shortcuts to singleton records, filled in by the validator so the flow code
 * does not search the record list. NULL when absent. */
struct plan {
	struct rec *recs;
	size_t nrecs;
	uint32_t mode, mode_flags;

	uint32_t clone_flags; /* NS_CLONE, 0 if absent */
	uint32_t unshare_flags; /* NS_UNSHARE */
	uint32_t joined_flags; /* union of NS_JOIN flags */
	size_t nidmap_userns; /* IDMAP_USERNS + IDMAP_USERNS_PATH records */
	const struct rec *timens, *uid_map, *gid_map, *exec_fifo, *rootfs;
	const struct rec *oom, *personality, *sched, *ioprio, *affinity, *nnp;
	const struct rec *user, *caps, *keyring, *cwd, *preserve_fds, *seccomp, *seccomp_listener;
	const struct rec *lsm[3];
	const struct rec *console;
	const struct rec *release_barrier;
	const struct rec *pidns_late;
	const struct rec *idmap_tools;

	char **argv; /* NULL-terminated, from ARG records */
	char **envp; /* NULL-terminated, from ENV records */
	size_t argc, envc;
};

/* ---- util.c ------------------------------------------------------------ */

/* The one pending error message. Functions fail by filling it and returning
 * -1; callers add context with err_wrap(). */
extern char g_err[4096];

int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *errno_text(int err);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
int write_all(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len); /* 0 ok, -1 error/EOF (errno 0 on EOF) */
int write_file_at(int dirfd, const char *path, const char *data, size_t len);
void close_quiet(int fd);
int check_procfs_fd(int fd, const char *what);
int write_proc_file_at(int dirfd, const char *path, const char *data, size_t len);
char *proc_fd_path(char buf[64], int fd);
/* Set by pidns.c while the cwd is the host's /proc: C1 after the root change,
 * where /proc is the joined pid namespace's and has no /proc/self for C1. */
extern int g_proc_relative;
/* One sendmsg carrying data and one fd (SCM_RIGHTS), as go-runc and the seccomp agent
 * protocol expect; retried on EINTR/EAGAIN. Returns the bytes sent or -1 (errno). */
ssize_t send_with_fd(int sock, const void *data, size_t len, int fd);

/* ---- sync.c ------------------------------------------------------------ */

extern int g_sync_fd;
int sync_send(uint16_t tag, const void *payload, uint32_t len);
int sync_send_u32(uint16_t tag, uint32_t v);
void sync_error(const char *msg);
void sync_log(uint32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Waits for one message; returns its tag, or -1 on EOF/malformed. Payload is
 * discarded beyond cap bytes. */
int sync_recv(uint8_t *buf, uint32_t cap, uint32_t *len);
/* Reports g_err on the sync socket and exits 1, after g_die_hook (E's
 * clean-up of a helper process) if set. */
__attribute__((noreturn)) void die(void);
/* Test builds only (-DTSRUN_FAULTS, build/fault/tsrun-executor): dies as if killed at the
 * named step when TSRUN_EXECUTOR_FAULT_AT names it; compiled out of the real executor. */
#ifdef TSRUN_FAULTS
void fault_point(const char *step);
#else
#define fault_point(step) ((void)0)
#endif
extern void (*g_die_hook)(void);

/* ---- terminal.c -------------------------------------------------------- */

/* E: the CONSOLE socket fd is usable and close-on-exec. */
int e_check_console(const struct plan *p, int sync_fd);
/* C: the pty, its master sent over the socket, its slave as fds 0-2. */
int c_setup_console(const struct plan *p);

/* ---- plan.c ------------------------------------------------------------ */

int plan_read(int fd, uint8_t **body, uint32_t *len);
int plan_decode(const uint8_t *body, uint32_t len, struct plan *p);

/* ---- selfexe.c --------------------------------------------------------- */

int ensure_sealed_self(char **argv);

/* ---- resolve.c --------------------------------------------------------- */

int open_in_root(int rootfd, const char *path, int flags);
int mkdir_in_root(int rootfd, const char *path, mode_t mode, uint32_t create);
int open_parent_in_root(int rootfd, const char *path, char *name, size_t namecap);

/* ---- namespaces.c ------------------------------------------------------ */

struct e_state {
	int procfd;
	int ns_fds[64];
	uint32_t ns_flags[64];
	size_t nns;
	int cgroup_fds[64];
	size_t ncgroups;
	int fifo_fd;
	int idmap_userns_fds[MAX_IDMAP_USERNS]; /* by IDMAP_USERNS(_PATH) index */
	size_t nidmap;
};

int e_prepare(const struct plan *p, struct e_state *st);
/* Joins the NS_JOIN namespaces and makes the id-mapped trees of the
 * MOUNT_IDMAP records in between (stored in their records). */
int e_join_namespaces(const struct plan *p, struct e_state *st);
void e_close_idmap_trees(const struct plan *p);
int e_write_id_maps(const struct plan *p, struct e_state *st, pid_t child);
int e_join_cgroups(struct e_state *st, pid_t child);
/* E: its copies of what J uses to join (namespace and id-map user
 * namespace fds). */
void e_close_joined(struct e_state *st);
void e_close_all(struct e_state *st);

/* ---- rootless.c -------------------------------------------------------- */

#define IDMAP_TOOLS_SETGROUPS_DENY 1u
/* E: C must be dumpable while its maps are written by an unprivileged E. */
int e_rootless_before_clone(const struct plan *p);
/* E: C's maps as an unprivileged user may write them (IDMAP_TOOLS). */
int e_rootless_write_id_maps(const struct plan *p, int procfd, pid_t child);
/* E: an unprivileged E joins the user namespace first, to own the rights for the rest. */
int e_rootless_user_ns_first(void);
/* C: non-dumpable again once released. */
void c_rootless_released(const struct plan *p);
/* C: setgroups(2) is denied in this user namespace. */
int c_setgroups_denied(void);
/* C: runc leaves supplementary groups alone rootless, or where setgroups is denied. */
int c_setgroups_skipped(void);
const char *ns_name(uint32_t flag);

/* ---- mounts.c ---------------------------------------------------------- */

struct c_root {
	const char *host_path; /* ROOTFS path */
	int fd; /* O_PATH fd of the container root (rootfs before the change, / after) */
	int new_mntns;
	uint64_t propagation;
};

int c_prepare_rootfs(const struct rec *r, struct c_root *root);
/* tree_fd: a detached tree from MOUNT_IDMAP to move onto the target instead
 * of binding the source, or -1; it is closed either way. */
int c_mount(const struct r_mount *m, struct c_root *root, int tree_fd);
int c_symlink(const struct rec *r, struct c_root *root);
/* Whatever is at the path (not a non-empty directory) goes first: runc's /dev/ptmx. */
int c_symlink_replace(const struct rec *r, struct c_root *root);
int c_mkdir(const struct rec *r, struct c_root *root);
int c_change_root(uint32_t how, struct c_root *root);
int c_root_readonly(void);
int c_mask_path(const char *path, struct c_root *root);
int c_readonly_path(const char *path, struct c_root *root);
int c_remount_readonly(const struct rec *r, struct c_root *root);

/* ---- devices.c --------------------------------------------------------- */

int c_mknod(const struct rec *r, struct c_root *root);
int c_bind_device(const struct rec *r, struct c_root *root);

/* ---- caps.c ------------------------------------------------------------ */

int caps_drop_bounding(uint64_t keep);
int caps_set(const struct r_caps *c);
int caps_keep(int on);

/* ---- process.c --------------------------------------------------------- */

int proc_rlimit(const struct rec *r);
int proc_personality(uint64_t persona);
int proc_scheduler(const struct r_sched *s);
int proc_ioprio(uint32_t class, uint32_t level);
int proc_oom_score_adj(int procfd, int32_t v);
int proc_session_keyring(const char *name);
int proc_sysctl(const char *key, const char *value, int rootfd);
int proc_switch_user(const struct r_user *u);
int proc_affinity(const uint8_t *mask, uint32_t len);
/* setresuid 0 and, unless uid_only, setresgid 0 first; proc_become_ns_root_gid
 * is the setresgid alone. */
int proc_become_ns_root(int uid_only);
int proc_become_ns_root_gid(void);

/* ---- exec.c ------------------------------------------------------------ */

int exec_lookup(const struct plan *p, char **resolved);
int exec_write_lsm(const struct rec *r);
__attribute__((noreturn)) void exec_final(const struct plan *p, const char *path);

/* ---- hooks.c ----------------------------------------------------------- */

/* Runs one hook to completion; on failure g_err holds runc's wording. */
int run_hook(const char *kind, const struct r_hook *h, char *const default_envp[]);
/* ---- seccomp.c --------------------------------------------------------- */

int seccomp_check_flags(const struct plan *p);
/* E, before joining namespaces: connect to the agent, make the hand-over pair. */
int seccomp_listener_prepare(const struct plan *p);
void seccomp_listener_in_child(void);
void seccomp_listener_in_parent(void);
/* C: installs the filter; with a listener, hands its fd to E and waits. */
int seccomp_install(const struct plan *p);
/* E, after the release: forwards C's listener fd to the agent. 1 = C failed
 * before (and reported it). */
int seccomp_listener_forward(const struct plan *p, pid_t child);

/* ---- pidns.c (PIDNS_LATE: the two-stage init) ------------------------- */

/* E, before forking J: the pipes between E, C1 and C2. */
int pidns_prepare(const struct plan *p);
void pidns_in_joiner(void);
void pidns_in_executor(void);
/* J: keeps the pid namespace's fd instead of joining it. */
void pidns_keep(int fd);
/* J: hands the host's /proc fd on to C1. */
void pidns_keep_proc(int fd);
/* C1, right after the root change. */
int pidns_after_root_change(void);
/* C1: a procfs mount for the joined pid namespace onto target_fd. */
int pidns_mount_proc(const struct r_mount *m, int target_fd);
/* C1: enters the pid namespace and returns in C2; C1 itself exits. */
void pidns_enter(const struct plan *p, int fifo_fd);
/* E, after the release: INIT_PID, C2's go-ahead, C1 reaped. 0 done, 1 C1
 * failed and reported it, -1 failure (g_err). */
int pidns_finish(pid_t c1);
/* C2's host pid once pidns_finish() has released it */
pid_t pidns_init_pid(void);

/* wait.c */
void wait_become_subreaper(void);
int wait_for_process(pid_t pid);

/* ---- init.c ------------------------------------------------------------ */

__attribute__((noreturn)) void run_init(const struct plan *p, int release_fd, int fifo_fd,
					 mode_t orig_umask);

/* ---- kernel constants glibc 2.36 does not expose without clashing headers */

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_NODIRATIME 0x00000080
#define MOUNT_ATTR_IDMAP 0x00100000
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
struct tsrun_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#endif
