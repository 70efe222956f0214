/*
 * Capabilities through the raw interfaces (capset(2), prctl(2)); the
 * executor links nothing but libc.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "executor.h"

/* Highest capability the running kernel knows. Bits above it in the plan
 * (capabilities newer than this kernel) are ignored, as runc does, instead of
 * failing every container on an older kernel. */
static int last_cap(void)
{
	static int last = -1;
	if (last < 0) {
		int c = 0;
		while (c < 63 && prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
			c++;
		last = c;
	}
	return last;
}

static uint64_t known_mask(void)
{
	int l = last_cap();
	return l >= 63 ? ~0ull : (1ull << (l + 1)) - 1;
}

int caps_keep(int on)
{
	if (prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) < 0)
		return fail_errno(errno, "prctl PR_SET_KEEPCAPS");
	return 0;
}

int caps_drop_bounding(uint64_t keep)
{
	for (int c = 0; c <= last_cap(); c++) {
		if (keep & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return fail_errno(errno, "drop capability %d from the bounding set", c);
	}
	return 0;
}

/* For runc's warning, which names the capability. */
static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

int caps_set(const struct r_caps *k)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	uint64_t m = known_mask();
	uint64_t eff = k->effective & m, prm = k->permitted & m, inh = k->inheritable & m;
	uint64_t amb = k->ambient & m;

	memset(d, 0, sizeof d);
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)prm;
	d[1].permitted = (uint32_t)(prm >> 32);
	d[0].inheritable = (uint32_t)inh;
	d[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return fail_errno(errno, "unable to apply caps"); /* runc's words */

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return fail_errno(errno, "clear ambient capabilities");
	for (int c = 0; c <= last_cap(); c++) {
		if (!(amb & (1ull << c)))
			continue;
		/* The kernel only allows ambient bits that are both permitted and
		 * inheritable; runc 1.3 warns about each it cannot raise. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) {
			int e = errno;
			if ((size_t)c < sizeof cap_names / sizeof cap_names[0])
				sync_log(LOG_WARN, "can't raise ambient capability %s: %s", cap_names[c], errno_text(e));
			else
				sync_log(LOG_WARN, "can't raise ambient capability %d: %s", c, errno_text(e));
		}
	}
	return 0;
}
