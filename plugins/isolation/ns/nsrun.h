/* nsrun.h — shared types of berth-nsrun, berth's own OCI runtime subset.
 *
 * Vocabulary
 *   bundle     a directory holding config.json and (usually) rootfs/.
 *   state dir  <root>/<id>/: state.json, a copy of config.json, exec.fifo
 *              while the container is "created".
 *   init       the container's first process (PID 1 of its pid namespace),
 *              a clone() of the runtime that sets everything up and then
 *              execve()s process.args.
 *   sync       a socketpair between the runtime and init: the runtime sends
 *              "go" once uid/gid maps and cgroups are in place; init answers
 *              "R" (ready: rootfs pivoted, console sent, waiting to exec) or
 *              "E<message>" (setup failed, nothing ran).
 *
 * Lifecycle (same as runc/crun): create → (init blocks opening exec.fifo for
 * writing) → start (opens the fifo for reading, init execs) → running →
 * stopped (init exited) → delete (cgroups and state removed).
 *
 * Policy: every config field is either honoured or refused with a message
 * naming it ("refuses to start and says why"); nothing is silently ignored.
 */
#ifndef NSRUN_H
#define NSRUN_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <sys/types.h>
#include "json.h"

#define NSRUN_VERSION "0.1.0"
#define MAX_NS 8
#define MAX_MAP 16
#define MAX_CG 32

typedef struct {
  char *dest, *type, *source;
  unsigned long flags;       /* MS_* applied at mount time */
  unsigned long propagation; /* MS_PRIVATE|MS_REC … applied afterwards */
  int bind;                  /* bind or rbind */
  int rec;                   /* rbind */
  int ro_remount;            /* bind + flags that need a remount */
  char data[1024];           /* filesystem-specific options */
} mountspec;

typedef struct { unsigned int inside, outside, size; } idmap;
typedef struct { int res; uint64_t soft, hard; } rlim_t_;
typedef struct { char *path; char type; int64_t major, minor; mode_t mode; uid_t uid; gid_t gid; } devspec;

typedef struct {
  char **args; int nargs;
  char **env; int nenv;
  char *cwd;
  uid_t uid; gid_t gid;
  gid_t gids[64]; int ngids;
  int terminal;
  unsigned short rows, cols;
  int has_caps;
  uint64_t cap_bnd, cap_eff, cap_perm, cap_inh, cap_amb;
  rlim_t_ rl[20]; int nrl;
  int nnp;
  int has_oom; int oom;
  void *seccomp;          /* struct sock_fprog *, or NULL */
  unsigned seccomp_flags;
} procspec;

typedef struct {
  char *bundle;
  char *rootfs;          /* absolute, realpath'd */
  int ro_root;
  char *hostname;
  procspec proc;
  mountspec *mounts; int nmounts;
  struct { int flag; char *path; } ns[MAX_NS]; int nns;
  int newflags;          /* CLONE_NEW* to create (excluding cgroup) */
  int newcgroupns;
  int has_userns;
  idmap uidm[MAX_MAP], gidm[MAX_MAP]; int nuid, ngid;
  char *cgroups_path;
  int64_t mem_limit, mem_swap, mem_reservation;
  int has_mem_limit, has_mem_swap, has_mem_reservation;
  int64_t cpu_quota; uint64_t cpu_period, cpu_shares;
  int has_cpu_quota, has_cpu_period, has_cpu_shares;
  char *cpus, *mems;
  int64_t pids_limit; int has_pids;
  char **devrules; int ndevrules; /* v1 "a|c|b maj:min rwm" prefixed by 'A' allow / 'D' deny */
  char **masked; int nmasked;
  char **ropaths; int nropaths;
  devspec *devices; int ndevices;
  char **sysctl_k, **sysctl_v; int nsysctl;
  unsigned long rootfs_prop;
  int has_seccomp;
} spec_t;

/* errors: die() prints "berth-nsrun: msg" (and a JSON line to --log) and
 * exits 1; inside init it sends the message to the runtime instead. */
extern int g_errfd;
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void set_log(const char *path, int json);

/* spec.c */
void spec_load(spec_t *s, const char *bundle);
void proc_parse(procspec *p, const jv *proc, const char *where);
void caps_check_available(const procspec *p);
int cap_from_name(const char *name);
int signal_from_name(const char *name);
int rlimit_from_name(const char *name);

/* seccomp.c */
void seccomp_compile(const jv *sc, void **prog, unsigned *flags);
void seccomp_apply(void *prog, unsigned flags);

/* cgroup.c */
typedef struct {
  int v2only;              /* /sys/fs/cgroup is cgroup2 */
  int n;
  char *dir[MAX_CG];       /* one per hierarchy, absolute host path */
  char *name[MAX_CG];      /* "memory", "cpu", "name=systemd", "unified" … */
} cgroups_t;
void cg_compute(cgroups_t *cg, const char *cgpath, const char *id);
void cg_create_apply(cgroups_t *cg, const spec_t *s);
void cg_join(const cgroups_t *cg, pid_t pid);
const char *cg_dir_for(const cgroups_t *cg, const char *controller); /* NULL if absent */
int cg_procs(const cgroups_t *cg, pid_t *out, int max);
int cg_freeze(const cgroups_t *cg, int freeze);
int cg_is_frozen(const cgroups_t *cg);
void cg_destroy(const cgroups_t *cg);

/* init.c — runs in the cloned init; never returns */
typedef struct {
  spec_t *s;
  cgroups_t *cg;
  int sync_fd;        /* child end of the socketpair */
  int console_fd;     /* connected console socket or -1 */
  int statedir_fd;    /* O_PATH state dir (for exec.fifo) or -1 for run */
  int preserve_fds;
} init_args;
void container_init(init_args *a) __attribute__((noreturn));
void precreate_mountpoints(const spec_t *s);

/* shared by init.c and exec in nsrun.c */
void finalize_process(const procspec *p, int preserve_fds);
char *lookup_exe(const procspec *p);
void setup_console_and_send(int sockfd, const procspec *p);
void write_file(const char *path, const char *data);
int write_file_ok(const char *path, const char *data);
char *read_file(const char *path); /* NULL on error */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sync_send(int fd, char tag, const char *msg);
/* BERTH_NSRUN_TRACE=1: phase timings (ms since start) on stderr. */
void trace_phase(const char *what);

#endif
