/* cgroup.c — cgroupfs driver for berth-nsrun.
 *
 * Three host shapes:
 *   v1       every controller (and name=systemd) on its own cgroup mount;
 *   hybrid   v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified)
 *            that may hold a controller (hugetlb on some hosts); we use the v1
 *            hierarchies only (no limit we support lives on the cgroup2 side, and
 *            a v2 migration costs up to ~13 ms of `run` latency) — see
 *            docs/decisions/050-berth-nsrun.md;
 *   v2       /sys/fs/cgroup itself is cgroup2: limits go to memory.max, cpu.max,
 *            pids.max, cpuset.cpus, after enabling the controllers in every
 *            ancestor's cgroup.subtree_control.
 * The container's directory in each hierarchy is <mountpoint><path> where path
 * is linux.cgroupsPath when absolute, the runtime's own cgroup + path when
 * relative, and /berth-nsrun/<id> when unset.
 * A limit asked for on a host without its controller is refused, never dropped.
 */
#include "nsrun.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

static char *own_cgroup(const char *name) {
  /* /proc/self/cgroup: "N:controllers:path"; "0::path" for v2 */
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return xstrdup("/");
  char line[4096];
  char *res = NULL;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *a = strchr(line, ':');
    if (!a) continue;
    char *b = strchr(a + 1, ':');
    if (!b) continue;
    *b = 0;
    const char *ctrls = a + 1;
    int match = 0;
    if (!strcmp(name, "unified")) match = ctrls[0] == 0;
    else {
      char tmp[512];
      snprintf(tmp, sizeof tmp, "%s", ctrls);
      for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) if (!strcmp(tok, name)) match = 1;
      if (!strcmp(ctrls, name)) match = 1;
    }
    if (match) { res = xstrdup(b + 1); break; }
  }
  fclose(f);
  return res ? res : xstrdup("/");
}

void cg_compute(cgroups_t *cg, const char *cgpath, const char *id) {
  memset(cg, 0, sizeof *cg);
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) cg->v2only = 1;
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die("open /proc/self/mountinfo: %s", strerror(errno));
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    char fstype[64], source[1024], super[2048];
    if (sscanf(sep + 3, "%63s %1023s %2047s", fstype, source, super) < 3) continue;
    char root[1024], mp[1024];
    if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mp) < 2) continue;
    int v2 = !strcmp(fstype, "cgroup2");
    if (!v2 && strcmp(fstype, "cgroup")) continue;
    if (cg->v2only && (!v2 || strcmp(mp, "/sys/fs/cgroup"))) continue;
    /* hybrid: every limit we support lives on v1; joining the cgroup2 tree as well
     * costs a v2 migration (up to ~13 ms here) and buys nothing we enforce */
    if (!cg->v2only && v2) continue;
    if (strcmp(root, "/")) continue; /* a bind of a sub-cgroup (e.g. inside a container): skip */
    char name[256] = "";
    if (v2) snprintf(name, sizeof name, "unified");
    else {
      /* the controller list is in the super options: rw,cpu,cpuacct or rw,name=systemd */
      char *tok, *save = NULL;
      for (tok = strtok_r(super, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "rw") || !strcmp(tok, "ro") || !strncmp(tok, "release_agent", 13) ||
            !strcmp(tok, "clone_children") || !strcmp(tok, "noprefix") || !strcmp(tok, "xattr") ||
            !strcmp(tok, "nsdelegate") || !strcmp(tok, "cpuset_v2_mode"))
          continue;
        size_t l = strlen(name);
        snprintf(name + l, sizeof name - l, "%s%s", l ? "," : "", tok);
      }
    }
    int dup = 0;
    for (int i = 0; i < cg->n; i++) if (!strcmp(cg->name[i], name)) dup = 1;
    if (dup || !name[0] || cg->n >= MAX_CG) continue;
    char *first = xstrdup(name);
    char *comma = strchr(first, ',');
    if (comma) *comma = 0;
    char *rel;
    if (!cgpath || !*cgpath) rel = xasprintf("/berth-nsrun/%s", id);
    else if (cgpath[0] == '/') rel = xstrdup(cgpath);
    else {
      char *own = own_cgroup(v2 ? "unified" : first);
      rel = xasprintf("%s/%s", strcmp(own, "/") ? own : "", cgpath);
    }
    cg->name[cg->n] = xstrdup(name);
    cg->dir[cg->n] = xasprintf("%s%s", mp, rel);
    cg->n++;
  }
  fclose(f);
  if (cg->n == 0) die("no cgroup filesystem is mounted; berth-nsrun cannot confine the container");
}

const char *cg_dir_for(const cgroups_t *cg, const char *controller) {
  for (int i = 0; i < cg->n; i++) {
    if (cg->v2only) return cg->dir[i];
    if (!strcmp(cg->name[i], "unified")) continue;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", cg->name[i]);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
      if (!strcmp(tok, controller)) return cg->dir[i];
  }
  return NULL;
}

static void mkdir_p(const char *path) {
  char *p = xstrdup(path);
  for (char *q = p + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    if (mkdir(p, 0755) && errno != EEXIST) die("mkdir %s: %s", p, strerror(errno));
    *q = '/';
  }
  if (mkdir(p, 0755) && errno != EEXIST) die("mkdir %s: %s", p, strerror(errno));
  free(p);
}

static void wr(const char *dir, const char *file, const char *val) {
  char *p = xasprintf("%s/%s", dir, file);
  if (!write_file_ok(p, val)) die("cgroup: write %s to %s: %s", val, p, strerror(errno));
  free(p);
}

/* cpuset v1: a new cgroup starts with empty cpus/mems and refuses tasks. */
static void cpuset_inherit(const char *dir) {
  char *parent = xstrdup(dir);
  char *slash = strrchr(parent, '/');
  if (!slash) return;
  *slash = 0;
  const char *files[] = {"cpuset.cpus", "cpuset.mems"};
  for (int i = 0; i < 2; i++) {
    char *mine = xasprintf("%s/%s", dir, files[i]);
    char *cur = read_file(mine);
    if (cur && cur[0] && cur[0] != '\n') { free(mine); continue; }
    cpuset_inherit(parent);
    char *pv = xasprintf("%s/%s", parent, files[i]);
    char *val = read_file(pv);
    if (val && val[0] && val[0] != '\n') write_file_ok(mine, val);
    free(mine);
    free(pv);
  }
  free(parent);
}

static void need(const char *dir, const char *what, const char *controller) {
  if (!dir) die("%s is requested but the %s cgroup controller is not available on this host", what, controller);
}

/* Enables in dir's cgroup.subtree_control every controller we may use that dir offers. */
static void v2_enable_at(const char *dir) {
  static const char *const want[] = {"cpu", "cpuset", "memory", "pids", "io", "hugetlb"};
  char *avail = read_file(xasprintf("%s/cgroup.controllers", dir));
  if (!avail) return;
  char *sc = xasprintf("%s/cgroup.subtree_control", dir);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    size_t wl = strlen(want[i]);
    for (char *h = strstr(avail, want[i]); h; h = strstr(h + 1, want[i])) {
      if ((h == avail || h[-1] == ' ') && (h[wl] == ' ' || h[wl] == '\n' || h[wl] == 0)) { /* whole word */
        char *v = xasprintf("+%s", want[i]);
        write_file_ok(sc, v);
        free(v);
        break;
      }
    }
  }
  free(sc);
  free(avail);
}

/* v2: delegate the controllers from the mount root down to leaf's parent, top first (a cgroup
 * can only enable what its parent enabled for it). The intermediate cgroups we created hold no
 * processes, so the "no internal processes" rule does not bite. */
static void v2_enable(const char *leaf) {
  const char *mp = "/sys/fs/cgroup";
  size_t ml = strlen(mp);
  if (strncmp(leaf, mp, ml) || leaf[ml] != '/') return;
  char *cur = xstrdup(mp);
  const char *rest = leaf + ml + 1;
  for (const char *slash; (slash = strchr(rest, '/')); rest = slash + 1) {
    v2_enable_at(cur);
    char *next = xasprintf("%s/%.*s", cur, (int)(slash - rest), rest);
    free(cur);
    cur = next;
  }
  v2_enable_at(cur); /* leaf's parent */
  free(cur);
}

void cg_create_apply(cgroups_t *cg, const spec_t *s) {
  for (int i = 0; i < cg->n; i++) {
    mkdir_p(cg->dir[i]);
    if (cg->v2only) v2_enable(cg->dir[i]);
    if (!cg->v2only && strstr(cg->name[i], "cpuset")) cpuset_inherit(cg->dir[i]);
  }
  char buf[64];
  if (cg->v2only) {
    const char *d = cg->dir[0];
    char *has = read_file(xasprintf("%s/cgroup.controllers", d));
    if (!has) has = "";
    if (s->has_mem_limit || s->has_mem_swap || s->has_mem_reservation) {
      if (!strstr(has, "memory")) die("a memory limit is requested but the memory controller is not enabled for %s", d);
      if (s->has_mem_limit) { snprintf(buf, sizeof buf, "%lld", (long long)s->mem_limit); if (s->mem_limit < 0) strcpy(buf, "max"); wr(d, "memory.max", buf); }
      if (s->has_mem_reservation) { snprintf(buf, sizeof buf, "%lld", (long long)s->mem_reservation); wr(d, "memory.low", buf); }
      if (s->has_mem_swap) {
        if (s->mem_swap < 0) strcpy(buf, "max");
        else snprintf(buf, sizeof buf, "%lld", (long long)(s->mem_swap - (s->has_mem_limit && s->mem_limit > 0 ? s->mem_limit : 0)));
        char *f = xasprintf("%s/memory.swap.max", d);
        if (access(f, F_OK)) { if (s->mem_swap > 0 && s->mem_swap != s->mem_limit) die("memory.swap is requested but this kernel has no swap accounting (memory.swap.max missing)"); }
        else wr(d, "memory.swap.max", buf);
      }
    }
    if (s->has_cpu_quota || s->has_cpu_period || s->has_cpu_shares) {
      if (!strstr(has, "cpu")) die("a cpu limit is requested but the cpu controller is not enabled for %s", d);
      if (s->has_cpu_quota || s->has_cpu_period) {
        uint64_t period = s->has_cpu_period ? s->cpu_period : 100000;
        if (s->has_cpu_quota && s->cpu_quota > 0) snprintf(buf, sizeof buf, "%lld %llu", (long long)s->cpu_quota, (unsigned long long)period);
        else snprintf(buf, sizeof buf, "max %llu", (unsigned long long)period);
        wr(d, "cpu.max", buf);
      }
      if (s->has_cpu_shares) {
        uint64_t w = 1 + ((s->cpu_shares - 2) * 9999) / 262142;
        if (s->cpu_shares < 2) w = 1;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)w);
        wr(d, "cpu.weight", buf);
      }
    }
    if (s->cpus || s->mems) {
      if (!strstr(has, "cpuset")) die("cpuset is requested but the cpuset controller is not enabled for %s", d);
      if (s->cpus) wr(d, "cpuset.cpus", s->cpus);
      if (s->mems) wr(d, "cpuset.mems", s->mems);
    }
    if (s->has_pids) {
      if (!strstr(has, "pids")) die("a pids limit is requested but the pids controller is not enabled for %s", d);
      if (s->pids_limit < 0) strcpy(buf, "max"); else snprintf(buf, sizeof buf, "%lld", (long long)s->pids_limit);
      wr(d, "pids.max", buf);
    }
    if (s->ndevrules) die("linux.resources.devices on a cgroup v2 host needs an eBPF device filter, which berth-nsrun does not implement");
    return;
  }
  const char *mem = cg_dir_for(cg, "memory");
  if (s->has_mem_limit) {
    need(mem, "linux.resources.memory.limit", "memory");
    snprintf(buf, sizeof buf, "%lld", (long long)s->mem_limit);
    wr(mem, "memory.limit_in_bytes", buf);
  }
  if (s->has_mem_swap) {
    need(mem, "linux.resources.memory.swap", "memory");
    char *f = xasprintf("%s/memory.memsw.limit_in_bytes", mem);
    if (access(f, F_OK)) {
      if (s->mem_swap > 0 && s->mem_swap != s->mem_limit)
        die("linux.resources.memory.swap is requested but this kernel has no swap accounting (memory.memsw.limit_in_bytes missing)");
    } else {
      snprintf(buf, sizeof buf, "%lld", (long long)s->mem_swap);
      wr(mem, "memory.memsw.limit_in_bytes", buf);
    }
  }
  if (s->has_mem_reservation) {
    need(mem, "linux.resources.memory.reservation", "memory");
    snprintf(buf, sizeof buf, "%lld", (long long)s->mem_reservation);
    wr(mem, "memory.soft_limit_in_bytes", buf);
  }
  const char *cpu = cg_dir_for(cg, "cpu");
  if (s->has_cpu_period) { need(cpu, "linux.resources.cpu.period", "cpu"); snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->cpu_period); wr(cpu, "cpu.cfs_period_us", buf); }
  if (s->has_cpu_quota) { need(cpu, "linux.resources.cpu.quota", "cpu"); snprintf(buf, sizeof buf, "%lld", (long long)s->cpu_quota); wr(cpu, "cpu.cfs_quota_us", buf); }
  if (s->has_cpu_shares) { need(cpu, "linux.resources.cpu.shares", "cpu"); snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->cpu_shares); wr(cpu, "cpu.shares", buf); }
  const char *cs = cg_dir_for(cg, "cpuset");
  if (s->cpus) { need(cs, "linux.resources.cpu.cpus", "cpuset"); wr(cs, "cpuset.cpus", s->cpus); }
  if (s->mems) { need(cs, "linux.resources.cpu.mems", "cpuset"); wr(cs, "cpuset.mems", s->mems); }
  if (s->has_pids) {
    const char *p = cg_dir_for(cg, "pids");
    need(p, "linux.resources.pids.limit", "pids");
    if (s->pids_limit < 0) strcpy(buf, "max"); else snprintf(buf, sizeof buf, "%lld", (long long)s->pids_limit);
    wr(p, "pids.max", buf);
  }
  if (s->ndevrules) {
    const char *dv = cg_dir_for(cg, "devices");
    need(dv, "linux.resources.devices", "devices");
    for (int i = 0; i < s->ndevrules; i++)
      wr(dv, s->devrules[i][0] == 'A' ? "devices.allow" : "devices.deny", s->devrules[i] + 1);
  }
}

void cg_join(const cgroups_t *cg, pid_t pid) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)pid);
  for (int i = 0; i < cg->n; i++) wr(cg->dir[i], "cgroup.procs", buf);
}

int cg_procs(const cgroups_t *cg, pid_t *out, int max) {
  const char *d = cg->v2only ? cg->dir[0] : cg_dir_for(cg, "pids");
  if (!d) d = cg_dir_for(cg, "freezer");
  if (!d) d = cg_dir_for(cg, "memory");
  if (!d && cg->n) d = cg->dir[0];
  if (!d) return 0;
  char *p = xasprintf("%s/cgroup.procs", d);
  FILE *f = fopen(p, "re");
  free(p);
  if (!f) return 0;
  int n = 0, v;
  while (n < max && fscanf(f, "%d", &v) == 1) out[n++] = v;
  fclose(f);
  return n;
}

int cg_freeze(const cgroups_t *cg, int freeze) {
  if (cg->v2only) {
    wr(cg->dir[0], "cgroup.freeze", freeze ? "1" : "0");
    for (int i = 0; i < 500; i++) {
      char *ev = read_file(xasprintf("%s/cgroup.events", cg->dir[0]));
      if (ev && strstr(ev, freeze ? "frozen 1" : "frozen 0")) return 0;
      usleep(10000);
    }
    return -1;
  }
  const char *fz = cg_dir_for(cg, "freezer");
  need(fz, freeze ? "pause" : "resume", "freezer");
  for (int i = 0; i < 500; i++) {
    wr(fz, "freezer.state", freeze ? "FROZEN" : "THAWED");
    char *st = read_file(xasprintf("%s/freezer.state", fz));
    if (st && !strncmp(st, freeze ? "FROZEN" : "THAWED", 6)) return 0;
    usleep(10000);
  }
  return -1;
}

int cg_is_frozen(const cgroups_t *cg) {
  if (cg->v2only) {
    char *ev = read_file(xasprintf("%s/cgroup.freeze", cg->dir[0]));
    return ev && ev[0] == '1';
  }
  const char *fz = cg_dir_for(cg, "freezer");
  if (!fz) return 0;
  char *st = read_file(xasprintf("%s/freezer.state", fz));
  return st && (!strncmp(st, "FROZEN", 6) || !strncmp(st, "FREEZING", 8));
}

void cg_destroy(const cgroups_t *cg) {
  for (int i = 0; i < cg->n; i++) {
    for (int tries = 0; tries < 200; tries++) {
      if (rmdir(cg->dir[i]) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) { warnx_("rmdir %s: %s", cg->dir[i], strerror(errno)); break; }
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
}
