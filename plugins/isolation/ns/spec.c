/* spec.c — reads an OCI config.json into spec_t and refuses, with the field's
 * name, everything berth-nsrun cannot honour. */
#include "nsrun.h"
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *CAPS[] = {
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

int cap_from_name(const char *name) {
  if (!strncasecmp(name, "CAP_", 4)) name += 4;
  for (size_t i = 0; i < sizeof CAPS / sizeof *CAPS; i++) if (!strcasecmp(CAPS[i], name)) return (int)i;
  return -1;
}

static const struct { const char *n; int v; } SIGS[] = {
  {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP},
  {"ABRT", SIGABRT}, {"IOT", SIGIOT}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL},
  {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
  {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
  {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
  {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
  {"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS},
};

int signal_from_name(const char *name) {
  char *end;
  long n = strtol(name, &end, 10);
  if (*name && !*end) return n > 0 && n < NSIG ? (int)n : -1;
  if (!strncasecmp(name, "SIG", 3)) name += 3;
  for (size_t i = 0; i < sizeof SIGS / sizeof *SIGS; i++) if (!strcasecmp(SIGS[i].n, name)) return SIGS[i].v;
  if (!strncasecmp(name, "RTMIN", 5)) {
    int off = name[5] == '+' ? atoi(name + 6) : 0;
    return SIGRTMIN + off <= SIGRTMAX ? SIGRTMIN + off : -1;
  }
  if (!strncasecmp(name, "RTMAX", 5)) {
    int off = name[5] == '-' ? atoi(name + 6) : 0;
    return SIGRTMAX - off >= SIGRTMIN ? SIGRTMAX - off : -1;
  }
  return -1;
}

static const struct { const char *n; int v; } RLIMS[] = {
  {"CPU", RLIMIT_CPU}, {"FSIZE", RLIMIT_FSIZE}, {"DATA", RLIMIT_DATA}, {"STACK", RLIMIT_STACK},
  {"CORE", RLIMIT_CORE}, {"RSS", RLIMIT_RSS}, {"NPROC", RLIMIT_NPROC}, {"NOFILE", RLIMIT_NOFILE},
  {"MEMLOCK", RLIMIT_MEMLOCK}, {"AS", RLIMIT_AS}, {"LOCKS", RLIMIT_LOCKS},
  {"SIGPENDING", RLIMIT_SIGPENDING}, {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
  {"RTPRIO", RLIMIT_RTPRIO}, {"RTTIME", RLIMIT_RTTIME},
};

int rlimit_from_name(const char *name) {
  if (!strncasecmp(name, "RLIMIT_", 7)) name += 7;
  for (size_t i = 0; i < sizeof RLIMS / sizeof *RLIMS; i++) if (!strcasecmp(RLIMS[i].n, name)) return RLIMS[i].v;
  return -1;
}

/* Refuse members of obj that are not in allowed[] and ask for something. */
static void only_known(const jv *obj, const char *where, const char *const allowed[]) {
  if (!obj) return;
  if (obj->t != J_OBJ) die("%s: must be an object", where);
  for (jv *e = obj->child; e; e = e->next) {
    int ok = 0;
    for (int i = 0; allowed[i]; i++) if (!strcmp(allowed[i], e->key)) ok = 1;
    if (!ok && !jempty(e)) die("%s.%s is not supported by berth-nsrun; refusing to start rather than ignore it", where, e->key);
  }
}

static char **str_array(const jv *arr, int *n, const char *where) {
  *n = 0;
  if (!arr || arr->t == J_NULL) return calloc(1, sizeof(char *));
  if (arr->t != J_ARR) die("%s: must be an array of strings", where);
  char **out = calloc((size_t)jlen(arr) + 1, sizeof(char *));
  for (jv *e = arr->child; e; e = e->next) {
    if (e->t != J_STR) die("%s: must be an array of strings", where);
    out[(*n)++] = e->s;
  }
  return out;
}

static int64_t num(const jv *v, const char *where) {
  if (v->t != J_NUM || !v->isint) die("%s: must be an integer", where);
  return v->i;
}

static uint64_t caps_mask(const jv *arr, const char *where) {
  uint64_t m = 0;
  int n;
  char **names = str_array(arr, &n, where);
  int last = 40;
  char *lc = read_file("/proc/sys/kernel/cap_last_cap");
  if (lc) last = atoi(lc);
  for (int i = 0; i < n; i++) {
    int c = cap_from_name(names[i]);
    if (c < 0) die("%s: unknown capability %s", where, names[i]);
    if (c > last) die("%s: capability %s is not known to this kernel (cap_last_cap=%d)", where, names[i], last);
    m |= 1ULL << c;
  }
  return m;
}

/* 2^64-1 (JSON writers send it as 18446744073709552000) and -1 mean unlimited. */
static uint64_t rlim_value(const jv *v, const char *type) {
  if (v->isint) return v->i < 0 ? (uint64_t)RLIM_INFINITY : (uint64_t)v->i;
  if (v->n >= 18446744073709551615.0 || v->n < 0) return (uint64_t)RLIM_INFINITY;
  if (v->n != (double)(uint64_t)v->n) die("process.rlimits: %s value %g is not an integer", type, v->n);
  return (uint64_t)v->n;
}

void proc_parse(procspec *p, const jv *proc, const char *where) {
  static const char *const known[] = {"args", "env", "cwd", "user", "terminal", "consoleSize", "capabilities",
                                      "rlimits", "noNewPrivileges", "oomScoreAdj", "commandLine", NULL};
  /* apparmorProfile/selinuxLabel/ioPriority/scheduler: refused by only_known when set */
  only_known(proc, where, known);
  if (!proc) return;
  char w[128];
  jv *v;
  if ((v = jget(proc, "args"))) { snprintf(w, sizeof w, "%s.args", where); p->args = str_array(v, &p->nargs, w); }
  if ((v = jget(proc, "env"))) { snprintf(w, sizeof w, "%s.env", where); p->env = str_array(v, &p->nenv, w); }
  if (jstr(proc, "cwd")) {
    p->cwd = xstrdup(jstr(proc, "cwd"));
    if (p->cwd[0] != '/') die("%s.cwd must be an absolute path, got %s", where, p->cwd);
  }
  jv *u = jget(proc, "user");
  if (u) {
    static const char *const uk[] = {"uid", "gid", "additionalGids", "umask", NULL};
    snprintf(w, sizeof w, "%s.user", where);
    only_known(u, w, uk);
    if ((v = jget(u, "uid"))) p->uid = (uid_t)num(v, "process.user.uid");
    if ((v = jget(u, "gid"))) p->gid = (gid_t)num(v, "process.user.gid");
    if ((v = jget(u, "umask")) && v->t != J_NULL) die("%s.user.umask is not supported by berth-nsrun", where);
    jv *ag = jget(u, "additionalGids");
    if (ag && ag->t == J_ARR) {
      for (jv *e = ag->child; e; e = e->next) {
        if (p->ngids >= 64) die("%s.user.additionalGids: more than 64 groups", where);
        p->gids[p->ngids++] = (gid_t)num(e, "process.user.additionalGids[]");
      }
    }
  }
  if ((v = jget(proc, "terminal"))) p->terminal = v->t == J_BOOL && v->b;
  jv *cs = jget(proc, "consoleSize");
  if (cs && cs->t == J_OBJ) {
    if ((v = jget(cs, "height"))) p->rows = (unsigned short)num(v, "consoleSize.height");
    if ((v = jget(cs, "width"))) p->cols = (unsigned short)num(v, "consoleSize.width");
  }
  jv *c = jget(proc, "capabilities");
  if (c && c->t != J_NULL) {
    static const char *const ck[] = {"bounding", "effective", "permitted", "inheritable", "ambient", NULL};
    snprintf(w, sizeof w, "%s.capabilities", where);
    only_known(c, w, ck);
    p->has_caps = 1;
    p->cap_bnd = caps_mask(jget(c, "bounding"), "process.capabilities.bounding");
    p->cap_eff = caps_mask(jget(c, "effective"), "process.capabilities.effective");
    p->cap_perm = caps_mask(jget(c, "permitted"), "process.capabilities.permitted");
    p->cap_inh = caps_mask(jget(c, "inheritable"), "process.capabilities.inheritable");
    p->cap_amb = caps_mask(jget(c, "ambient"), "process.capabilities.ambient");
  }
  jv *rl = jget(proc, "rlimits");
  if (rl && rl->t == J_ARR) {
    for (jv *e = rl->child; e; e = e->next) {
      const char *t = jstr(e, "type");
      int r = t ? rlimit_from_name(t) : -1;
      if (r < 0) die("%s.rlimits: unknown rlimit type %s", where, t ? t : "(missing)");
      if (p->nrl >= 20) die("%s.rlimits: too many entries", where);
      jv *h = jget(e, "hard"), *s = jget(e, "soft");
      if (!h || !s || h->t != J_NUM || s->t != J_NUM) die("%s.rlimits: %s needs numeric soft and hard", where, t);
      p->rl[p->nrl].res = r;
      p->rl[p->nrl].hard = rlim_value(h, t);
      p->rl[p->nrl].soft = rlim_value(s, t);
      if (p->rl[p->nrl].soft > p->rl[p->nrl].hard) die("%s.rlimits: %s soft limit above hard limit", where, t);
      p->nrl++;
    }
  }
  if ((v = jget(proc, "noNewPrivileges"))) p->nnp = v->t == J_BOOL && v->b;
  if ((v = jget(proc, "oomScoreAdj")) && v->t == J_NUM) {
    p->has_oom = 1;
    p->oom = (int)num(v, "process.oomScoreAdj");
    if (p->oom < -1000 || p->oom > 1000) die("process.oomScoreAdj must be within -1000..1000");
  }
}

static const struct { const char *n; int clear; unsigned long f; } MOPTS[] = {
  {"ro", 0, MS_RDONLY}, {"rw", 1, MS_RDONLY}, {"nosuid", 0, MS_NOSUID}, {"suid", 1, MS_NOSUID},
  {"nodev", 0, MS_NODEV}, {"dev", 1, MS_NODEV}, {"noexec", 0, MS_NOEXEC}, {"exec", 1, MS_NOEXEC},
  {"sync", 0, MS_SYNCHRONOUS}, {"async", 1, MS_SYNCHRONOUS}, {"dirsync", 0, MS_DIRSYNC},
  {"mand", 0, MS_MANDLOCK}, {"nomand", 1, MS_MANDLOCK}, {"noatime", 0, MS_NOATIME}, {"atime", 1, MS_NOATIME},
  {"nodiratime", 0, MS_NODIRATIME}, {"diratime", 1, MS_NODIRATIME}, {"relatime", 0, MS_RELATIME},
  {"norelatime", 1, MS_RELATIME}, {"strictatime", 0, MS_STRICTATIME}, {"nostrictatime", 1, MS_STRICTATIME},
  {"silent", 0, MS_SILENT}, {"loud", 1, MS_SILENT},
};
static const struct { const char *n; unsigned long f; } PROPS[] = {
  {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"shared", MS_SHARED},
  {"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE}, {"rslave", MS_SLAVE | MS_REC},
  {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static unsigned long prop_from_name(const char *n) {
  for (size_t i = 0; i < sizeof PROPS / sizeof *PROPS; i++) if (!strcmp(PROPS[i].n, n)) return PROPS[i].f;
  return 0;
}

static void mount_parse(mountspec *m, const jv *j, int idx) {
  static const char *const mk[] = {"destination", "type", "source", "options", NULL};
  char w[64];
  snprintf(w, sizeof w, "mounts[%d]", idx);
  only_known(j, w, mk);
  const char *d = jstr(j, "destination");
  if (!d || d[0] != '/') die("%s.destination must be an absolute path", w);
  m->dest = xstrdup(d);
  m->type = xstrdup(jstr(j, "type") ? jstr(j, "type") : "");
  m->source = xstrdup(jstr(j, "source") ? jstr(j, "source") : "");
  int n;
  char **opts = str_array(jget(j, "options"), &n, w);
  size_t dl = 0;
  for (int i = 0; i < n; i++) {
    const char *o = opts[i];
    int done = 0;
    for (size_t k = 0; k < sizeof MOPTS / sizeof *MOPTS; k++)
      if (!strcmp(MOPTS[k].n, o)) {
        if (MOPTS[k].clear) m->flags &= ~MOPTS[k].f; else m->flags |= MOPTS[k].f;
        done = 1;
      }
    if (done) continue;
    if (!strcmp(o, "bind")) { m->bind = 1; continue; }
    if (!strcmp(o, "rbind")) { m->bind = 1; m->rec = 1; continue; }
    unsigned long pf = prop_from_name(o);
    if (pf) { m->propagation = pf; continue; }
    if (!strcmp(o, "remount") || !strcmp(o, "idmap") || !strcmp(o, "ridmap") || !strcmp(o, "tmpcopyup") ||
        !strcmp(o, "copy-symlink") || !strncmp(o, "x-", 2) || !strcmp(o, "recursive") || !strcmp(o, "rro"))
      die("%s: mount option \"%s\" is not supported by berth-nsrun", w, o);
    /* filesystem data (mode=, size=, newinstance, gid=, ptmxmode= …) */
    size_t ol = strlen(o);
    if (dl + ol + 2 >= sizeof m->data) die("%s: mount data too long", w);
    if (dl) m->data[dl++] = ',';
    memcpy(m->data + dl, o, ol + 1);
    dl += ol;
  }
  if (!strcmp(m->type, "bind")) m->bind = 1;
  if (m->bind) {
    if (dl) die("%s: bind mount of %s has filesystem options (%s) that a bind mount cannot take", w, m->dest, m->data);
    if (m->flags & ~(unsigned long)0) m->ro_remount = 1;
    if (!m->source[0]) die("%s: bind mount needs a source", w);
  } else {
    static const char *const types[] = {"proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", NULL};
    int ok = 0;
    for (int i = 0; types[i]; i++) if (!strcmp(types[i], m->type)) ok = 1;
    if (!ok) die("%s: mount type \"%s\" at %s is not supported by berth-nsrun (proc, sysfs, tmpfs, devpts, mqueue, cgroup, bind)", w, m->type, m->dest);
  }
}

static int ns_flag(const char *t) {
  if (!strcmp(t, "pid")) return CLONE_NEWPID;
  if (!strcmp(t, "mount")) return CLONE_NEWNS;
  if (!strcmp(t, "uts")) return CLONE_NEWUTS;
  if (!strcmp(t, "ipc")) return CLONE_NEWIPC;
  if (!strcmp(t, "network")) return CLONE_NEWNET;
  if (!strcmp(t, "cgroup")) return CLONE_NEWCGROUP;
  if (!strcmp(t, "user")) return CLONE_NEWUSER;
  return 0;
}

static void maps_parse(idmap *out, int *n, const jv *arr, const char *w) {
  *n = 0;
  if (!arr || arr->t != J_ARR) return;
  for (jv *e = arr->child; e; e = e->next) {
    if (*n >= MAX_MAP) die("linux.%s: more than %d entries", w, MAX_MAP);
    jv *c = jget(e, "containerID"), *h = jget(e, "hostID"), *s = jget(e, "size");
    if (!c || !h || !s) die("linux.%s: entries need containerID, hostID and size", w);
    out[*n].inside = (unsigned)num(c, w);
    out[*n].outside = (unsigned)num(h, w);
    out[*n].size = (unsigned)num(s, w);
    if (out[*n].size == 0) die("linux.%s: size must be > 0", w);
    (*n)++;
  }
}

static void resources_parse(spec_t *s, const jv *r) {
  static const char *const rk[] = {"memory", "cpu", "pids", "devices", NULL};
  only_known(r, "linux.resources", rk);
  if (!r) return;
  jv *m = jget(r, "memory"), *v;
  if (m) {
    static const char *const mk[] = {"limit", "swap", "reservation", "disableOOMKiller", "swappiness", NULL};
    only_known(m, "linux.resources.memory", mk);
    if ((v = jget(m, "limit")) && v->t == J_NUM) { s->mem_limit = num(v, "memory.limit"); s->has_mem_limit = 1; }
    if ((v = jget(m, "swap")) && v->t == J_NUM) { s->mem_swap = num(v, "memory.swap"); s->has_mem_swap = 1; }
    if ((v = jget(m, "reservation")) && v->t == J_NUM) { s->mem_reservation = num(v, "memory.reservation"); s->has_mem_reservation = 1; }
    if ((v = jget(m, "disableOOMKiller")) && !jempty(v)) die("linux.resources.memory.disableOOMKiller is not supported by berth-nsrun");
    if ((v = jget(m, "swappiness")) && v->t == J_NUM && v->i != -1 && v->i != 0) die("linux.resources.memory.swappiness is not supported by berth-nsrun");
    if (s->has_mem_swap && s->has_mem_limit && s->mem_swap > 0 && s->mem_limit > 0 && s->mem_swap < s->mem_limit)
      die("linux.resources.memory.swap (%lld) must be >= memory.limit (%lld): it is memory+swap", (long long)s->mem_swap, (long long)s->mem_limit);
  }
  jv *c = jget(r, "cpu");
  if (c) {
    static const char *const ck[] = {"quota", "period", "shares", "cpus", "mems", NULL};
    only_known(c, "linux.resources.cpu", ck);
    if ((v = jget(c, "quota")) && v->t == J_NUM) { s->cpu_quota = num(v, "cpu.quota"); s->has_cpu_quota = 1; }
    if ((v = jget(c, "period")) && v->t == J_NUM && v->i) { s->cpu_period = (uint64_t)num(v, "cpu.period"); s->has_cpu_period = 1; }
    if ((v = jget(c, "shares")) && v->t == J_NUM && v->i) { s->cpu_shares = (uint64_t)num(v, "cpu.shares"); s->has_cpu_shares = 1; }
    if (jstr(c, "cpus") && *jstr(c, "cpus")) s->cpus = xstrdup(jstr(c, "cpus"));
    if (jstr(c, "mems") && *jstr(c, "mems")) s->mems = xstrdup(jstr(c, "mems"));
  }
  jv *p = jget(r, "pids");
  if (p && (v = jget(p, "limit")) && v->t == J_NUM && v->i != 0) { s->pids_limit = num(v, "pids.limit"); s->has_pids = 1; }
  jv *d = jget(r, "devices");
  if (d && d->t == J_ARR) {
    s->devrules = calloc((size_t)jlen(d) + 1, sizeof(char *));
    for (jv *e = d->child; e; e = e->next) {
      jv *allow = jget(e, "allow");
      const char *type = jstr(e, "type"), *access = jstr(e, "access");
      jv *ma = jget(e, "major"), *mi = jget(e, "minor");
      if (!allow || allow->t != J_BOOL) die("linux.resources.devices[]: allow must be a boolean");
      char maj[24] = "*", min[24] = "*";
      if (ma && ma->t == J_NUM && ma->i >= 0) snprintf(maj, sizeof maj, "%lld", (long long)ma->i);
      if (mi && mi->t == J_NUM && mi->i >= 0) snprintf(min, sizeof min, "%lld", (long long)mi->i);
      if (!type || !*type) type = "a";
      if (strcmp(type, "a") && strcmp(type, "c") && strcmp(type, "b")) die("linux.resources.devices[]: bad type %s", type);
      if (!access || !*access) access = "rwm";
      if (!strcmp(type, "a")) s->devrules[s->ndevrules++] = xasprintf("%ca", allow->b ? 'A' : 'D');
      else s->devrules[s->ndevrules++] = xasprintf("%c%s %s:%s %s", allow->b ? 'A' : 'D', type, maj, min, access);
    }
  }
}

static void devices_parse(spec_t *s, const jv *d) {
  if (!d || d->t != J_ARR) return;
  s->devices = calloc((size_t)jlen(d) + 1, sizeof(devspec));
  for (jv *e = d->child; e; e = e->next) {
    static const char *const dk[] = {"path", "type", "major", "minor", "fileMode", "uid", "gid", NULL};
    only_known(e, "linux.devices[]", dk);
    devspec *x = &s->devices[s->ndevices++];
    const char *p = jstr(e, "path"), *t = jstr(e, "type");
    if (!p || p[0] != '/' || !t) die("linux.devices[]: needs an absolute path and a type");
    x->path = xstrdup(p);
    x->type = t[0];
    if (strcmp(t, "c") && strcmp(t, "b") && strcmp(t, "u") && strcmp(t, "p")) die("linux.devices[%s]: bad type %s", p, t);
    jv *v;
    if ((v = jget(e, "major"))) x->major = num(v, "devices.major");
    if ((v = jget(e, "minor"))) x->minor = num(v, "devices.minor");
    x->mode = 0666;
    if ((v = jget(e, "fileMode")) && v->t == J_NUM) x->mode = (mode_t)num(v, "devices.fileMode") & 07777;
    if ((v = jget(e, "uid")) && v->t == J_NUM) x->uid = (uid_t)num(v, "devices.uid");
    if ((v = jget(e, "gid")) && v->t == J_NUM) x->gid = (gid_t)num(v, "devices.gid");
  }
}

/* Namespaced sysctls only, as runc does; anything else would change the host. */
static void sysctl_check(const spec_t *s, const char *k) {
  int netns = 0, ipcns = 0, utsns = 0;
  for (int i = 0; i < s->nns; i++) {
    if (s->ns[i].flag == CLONE_NEWNET) netns = 1;
    if (s->ns[i].flag == CLONE_NEWIPC) ipcns = 1;
    if (s->ns[i].flag == CLONE_NEWUTS) utsns = 1;
  }
  if (!strncmp(k, "net.", 4)) { if (!netns) die("linux.sysctl %s needs a network namespace", k); return; }
  if (!strncmp(k, "fs.mqueue.", 10) || !strcmp(k, "kernel.msgmax") || !strcmp(k, "kernel.msgmnb") ||
      !strcmp(k, "kernel.msgmni") || !strcmp(k, "kernel.sem") || !strcmp(k, "kernel.shmall") ||
      !strcmp(k, "kernel.shmmax") || !strcmp(k, "kernel.shmmni") || !strcmp(k, "kernel.shm_rmid_forced")) {
    if (!ipcns) die("linux.sysctl %s needs an ipc namespace", k);
    return;
  }
  if (!strcmp(k, "kernel.hostname") || !strcmp(k, "kernel.domainname")) {
    if (!utsns) die("linux.sysctl %s needs a uts namespace", k);
    return;
  }
  die("linux.sysctl %s is not namespaced; berth-nsrun refuses to change it for the whole host", k);
}

/* Capabilities outside our own bounding set can never be granted (capset fails with EPERM):
 * say which ones, instead of failing later inside init. */
void caps_check_available(const procspec *p) {
  if (!p->has_caps) return;
  char *st = read_file("/proc/self/status");
  char *b = st ? strstr(st, "CapBnd:") : NULL;
  if (!b) return;
  uint64_t have = strtoull(b + 7, NULL, 16);
  uint64_t want = p->cap_eff | p->cap_perm | p->cap_inh | p->cap_amb;
  uint64_t missing = want & ~have;
  if (!missing) return;
  char names[1024] = "";
  size_t l = 0;
  for (int c = 0; c < 64; c++)
    if (missing & (1ULL << c)) l += (size_t)snprintf(names + l, sizeof names - l, "%sCAP_%s", l ? ", " : "", c < (int)(sizeof CAPS / sizeof *CAPS) ? CAPS[c] : "?");
  die("capabilities %s are requested but berth-nsrun itself does not hold them (its bounding set is %016llx): they cannot be granted on this host", names, (unsigned long long)have);
}

void spec_load(spec_t *s, const char *bundle) {
  memset(s, 0, sizeof *s);
  char err[512];
  char *bpath = realpath(bundle, NULL);
  if (!bpath) die("bundle %s: %s", bundle, strerror(errno));
  s->bundle = bpath;
  char *cfgpath = xasprintf("%s/config.json", bpath);
  jv *cfg = json_parse_file(cfgpath, err, sizeof err);
  if (!cfg) die("%s", err);
  if (cfg->t != J_OBJ) die("config.json: top level must be an object");
  static const char *const top[] = {"ociVersion", "root", "process", "hostname", "domainname", "mounts", "linux",
                                    "annotations", "hooks", NULL};
  only_known(cfg, "config", top);
  if (!jempty(jget(cfg, "hooks"))) die("config.hooks are not supported by berth-nsrun");
  if (!jempty(jget(cfg, "domainname"))) die("config.domainname is not supported by berth-nsrun");

  jv *root = jget(cfg, "root");
  static const char *const rk[] = {"path", "readonly", NULL};
  only_known(root, "root", rk);
  const char *rp = jstr(root, "path");
  if (!rp || !*rp) die("config.root.path is required");
  char *abs = rp[0] == '/' ? xstrdup(rp) : xasprintf("%s/%s", bpath, rp);
  s->rootfs = realpath(abs, NULL);
  if (!s->rootfs) die("root.path %s: %s", abs, strerror(errno));
  struct stat st;
  if (stat(s->rootfs, &st) || !S_ISDIR(st.st_mode)) die("root.path %s is not a directory", s->rootfs);
  jv *v;
  if ((v = jget(root, "readonly"))) s->ro_root = v->t == J_BOOL && v->b;
  if (jstr(cfg, "hostname") && *jstr(cfg, "hostname")) s->hostname = xstrdup(jstr(cfg, "hostname"));

  jv *proc = jget(cfg, "process");
  if (!proc) die("config.process is required");
  s->proc.cwd = "/";
  proc_parse(&s->proc, proc, "process");
  if (s->proc.nargs == 0) die("process.args must not be empty");
  caps_check_available(&s->proc);

  jv *mounts = jget(cfg, "mounts");
  if (mounts && mounts->t == J_ARR) {
    s->mounts = calloc((size_t)jlen(mounts) + 1, sizeof(mountspec));
    for (jv *e = mounts->child; e; e = e->next) { mount_parse(&s->mounts[s->nmounts], e, s->nmounts); s->nmounts++; }
  }

  jv *lx = jget(cfg, "linux");
  static const char *const lk[] = {"namespaces", "uidMappings", "gidMappings", "resources", "cgroupsPath",
                                   "maskedPaths", "readonlyPaths", "devices", "sysctl", "rootfsPropagation",
                                   "seccomp", "mountLabel", NULL};
  only_known(lx, "linux", lk);
  if (!jempty(jget(lx, "mountLabel"))) die("linux.mountLabel (SELinux) is not supported by berth-nsrun");
  jv *nss = jget(lx, "namespaces");
  int seen = 0;
  if (nss && nss->t == J_ARR) {
    for (jv *e = nss->child; e; e = e->next) {
      const char *t = jstr(e, "type");
      int f = t ? ns_flag(t) : 0;
      if (!f) die("linux.namespaces: namespace type %s is not supported by berth-nsrun", t ? t : "(missing)");
      if (seen & f) die("linux.namespaces: %s listed twice", t);
      seen |= f;
      if (s->nns >= MAX_NS) die("linux.namespaces: too many");
      const char *p = jstr(e, "path");
      s->ns[s->nns].flag = f;
      s->ns[s->nns].path = p && *p ? xstrdup(p) : NULL;
      s->nns++;
      if (!(p && *p)) {
        if (f == CLONE_NEWCGROUP) s->newcgroupns = 1;
        else s->newflags |= f;
      }
      if (f == CLONE_NEWUSER) s->has_userns = 1;
    }
  }
  if (!(seen & CLONE_NEWNS) ) die("linux.namespaces must include \"mount\": berth-nsrun always pivots into the rootfs in its own mount namespace");
  for (int i = 0; i < s->nns; i++)
    if (s->ns[i].flag == CLONE_NEWNS && s->ns[i].path) die("linux.namespaces: joining an existing mount namespace is not supported by berth-nsrun");
  maps_parse(s->uidm, &s->nuid, jget(lx, "uidMappings"), "uidMappings");
  maps_parse(s->gidm, &s->ngid, jget(lx, "gidMappings"), "gidMappings");
  if ((s->nuid || s->ngid) && !(s->newflags & CLONE_NEWUSER)) die("linux.uidMappings/gidMappings need a new user namespace");
  if ((s->newflags & CLONE_NEWUSER) && (!s->nuid || !s->ngid)) die("a new user namespace needs linux.uidMappings and linux.gidMappings");
  resources_parse(s, jget(lx, "resources"));
  if (jstr(lx, "cgroupsPath")) s->cgroups_path = xstrdup(jstr(lx, "cgroupsPath"));
  if (s->cgroups_path && strchr(s->cgroups_path, ':')) die("linux.cgroupsPath %s looks like a systemd slice:prefix:name path; berth-nsrun drives cgroupfs only", s->cgroups_path);
  if (s->cgroups_path && strstr(s->cgroups_path, "..")) die("linux.cgroupsPath must not contain \"..\"");
  s->masked = str_array(jget(lx, "maskedPaths"), &s->nmasked, "linux.maskedPaths");
  s->ropaths = str_array(jget(lx, "readonlyPaths"), &s->nropaths, "linux.readonlyPaths");
  devices_parse(s, jget(lx, "devices"));
  jv *sy = jget(lx, "sysctl");
  if (sy && sy->t == J_OBJ) {
    int n = jlen(sy);
    s->sysctl_k = calloc((size_t)n + 1, sizeof(char *));
    s->sysctl_v = calloc((size_t)n + 1, sizeof(char *));
    for (jv *e = sy->child; e; e = e->next) {
      if (e->t != J_STR) die("linux.sysctl.%s must be a string", e->key);
      if (strstr(e->key, "..") || strchr(e->key, '/')) die("linux.sysctl: bad key %s", e->key);
      sysctl_check(s, e->key);
      s->sysctl_k[s->nsysctl] = e->key;
      s->sysctl_v[s->nsysctl++] = e->s;
    }
  }
  s->rootfs_prop = MS_PRIVATE | MS_REC;
  if (jstr(lx, "rootfsPropagation") && *jstr(lx, "rootfsPropagation")) {
    s->rootfs_prop = prop_from_name(jstr(lx, "rootfsPropagation"));
    if (!s->rootfs_prop) die("linux.rootfsPropagation: unknown value %s", jstr(lx, "rootfsPropagation"));
  }
  jv *sc = jget(lx, "seccomp");
  if (sc && sc->t == J_OBJ && !jempty(sc)) {
    s->has_seccomp = 1;
    seccomp_compile(sc, &s->proc.seccomp, &s->proc.seccomp_flags);
  }
  if (s->hostname && !(s->newflags & CLONE_NEWUTS)) die("config.hostname needs a new uts namespace");
}
