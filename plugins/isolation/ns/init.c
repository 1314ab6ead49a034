/* init.c — the container's init: runs in the clone()d child (already in its
 * new namespaces), builds the rootfs, pivots into it, drops privileges and
 * execs the user process. Every failure goes back to the runtime over the sync
 * socket (die() knows g_errfd) so the caller sees one clear message.
 *
 * Path safety: every destination inside the rootfs is resolved component by
 * component from a descriptor of the rootfs (resolve_create: absolute
 * symlinks restart at the rootfs, ".." stops there), so a symlink in the
 * image ("/etc -> /host/etc", "../../..") can never lead a mount or a mknod
 * outside it. Missing components are created with mkdirat() on the
 * descriptor reached so far, and the mount itself targets /proc/self/fd/N,
 * the already-resolved directory.
 */
#include "nsrun.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int rootfd = -1;

/* Resolve path inside the rootfs like chroot would (absolute symlinks restart
 * at the rootfs, ".." stops at it), walking one component at a time from a
 * descriptor of the rootfs. With create, missing components are made as
 * directories (the last one as an empty file with as_file), wherever the
 * walk has taken us — always inside the rootfs. Returns an O_PATH fd or -1. */
static int resolve_create(const char *path, int create, int as_file) {
  char *queue = xstrdup(path); /* remaining components, '/'-separated */
  int stack[256];              /* ancestors, for ".." */
  int depth = 0, links = 0;
  int cur = dup(rootfd);
  if (cur < 0) die("dup: %s", strerror(errno));
  for (;;) {
    char *q = queue;
    while (*q == '/') q++;
    if (!*q) break;
    char *slash = strchr(q, '/');
    size_t cl = slash ? (size_t)(slash - q) : strlen(q);
    char comp[256];
    if (cl >= sizeof comp) { errno = ENAMETOOLONG; goto fail; }
    memcpy(comp, q, cl);
    comp[cl] = 0;
    char *rest = xstrdup(q + cl);
    free(queue);
    queue = rest;
    int last = 1;
    for (char *r = queue; *r; r++) if (*r != '/') { last = 0; break; }
    if (!strcmp(comp, ".")) continue;
    if (!strcmp(comp, "..")) {
      if (depth > 0) { close(cur); cur = stack[--depth]; }
      continue;
    }
    struct stat st;
    if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW)) {
      if (errno != ENOENT || !create) goto fail;
      if (last && as_file) {
        int f = openat(cur, comp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0 && errno != EEXIST) goto fail;
        if (f >= 0) close(f);
      } else if (mkdirat(cur, comp, 0755) && errno != EEXIST) {
        goto fail;
      }
      if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW)) goto fail;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) { errno = ELOOP; goto fail; }
      char target[4096];
      ssize_t tl = readlinkat(cur, comp, target, sizeof target - 1);
      if (tl < 0) goto fail;
      target[tl] = 0;
      char *nq = xasprintf("%s/%s", target, queue);
      free(queue);
      queue = nq;
      if (target[0] == '/') {
        while (depth > 0) close(stack[--depth]);
        close(cur);
        cur = dup(rootfd);
      }
      continue;
    }
    int next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) goto fail;
    if (depth >= 256) { close(next); errno = ELOOP; goto fail; }
    stack[depth++] = cur;
    cur = next;
  }
  while (depth > 0) close(stack[--depth]);
  free(queue);
  return cur;
fail: {
    int e = errno;
    while (depth > 0) close(stack[--depth]);
    close(cur);
    free(queue);
    errno = e;
    return -1;
  }
}

static char *fdpath(int fd) { return xasprintf("/proc/self/fd/%d", fd); }

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  }
  return f;
}

static void bind_remount(const char *target, unsigned long flags, const char *what) {
  unsigned long keep = locked_flags(target) & ~MS_RDONLY;
  if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | keep, NULL))
    die("remount %s (%s): %s", what, target, strerror(errno));
}

static void do_mount(const spec_t *s, const cgroups_t *cg, const mountspec *m) {
  (void)s;
  if (m->bind) {
    const char *src = m->source;
    char *srcabs = src[0] == '/' ? xstrdup(src) : xasprintf("%s/%s", s->bundle, src);
    struct stat st;
    if (stat(srcabs, &st)) die("bind mount source %s: %s", srcabs, strerror(errno));
    int fd = resolve_create(m->dest, 1, !S_ISDIR(st.st_mode));
    if (fd < 0) die("mount destination %s: %s", m->dest, strerror(errno));
    char *t = fdpath(fd);
    if (mount(srcabs, t, NULL, MS_BIND | (m->rec ? MS_REC : 0), NULL)) die("bind %s on %s: %s", srcabs, m->dest, strerror(errno));
    close(fd);
    fd = resolve_create(m->dest, 0, 0);
    free(t);
    t = fdpath(fd);
    if (m->flags) {
      unsigned long keep = locked_flags(t) & ~MS_RDONLY;
      if (mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | m->flags | keep, NULL)) die("remount %s: %s", m->dest, strerror(errno));
    }
    if (m->propagation && mount(NULL, t, NULL, m->propagation, NULL)) die("propagation of %s: %s", m->dest, strerror(errno));
    close(fd);
    free(t);
    free(srcabs);
    return;
  }
  int fd = resolve_create(m->dest, 1, 0);
  if (fd < 0) die("mount destination %s: %s", m->dest, strerror(errno));
  char *t = fdpath(fd);
  if (!strcmp(m->type, "cgroup") || !strcmp(m->type, "cgroup2")) {
    if (cg->v2only) {
      if (mount("cgroup2", t, "cgroup2", m->flags & ~MS_RDONLY, NULL)) {
        /* no cgroup namespace: show the container's own directory */
        if (mount(cg->dir[0], t, NULL, MS_BIND | MS_REC, NULL)) die("mount cgroup2 on %s: %s", m->dest, strerror(errno));
      }
      close(fd);
      fd = resolve_create(m->dest, 0, 0);
      free(t);
      t = fdpath(fd);
      if (m->flags & MS_RDONLY) bind_remount(t, MS_RDONLY | (m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)), m->dest);
    } else {
      /* v1: a tmpfs with one read-only bind of the container's directory per hierarchy */
      if (mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")) die("mount tmpfs on %s: %s", m->dest, strerror(errno));
      for (int i = 0; i < cg->n; i++) {
        const char *base = strrchr(cg->dir[i], '/');
        (void)base;
        char *sub = NULL;
        /* mountpoint basename of the hierarchy = name with "name=" stripped */
        const char *nm = cg->name[i];
        if (!strncmp(nm, "name=", 5)) nm += 5;
        sub = xasprintf("%s/%s", m->dest, nm);
        int sfd = resolve_create(sub, 1, 0);
        if (sfd < 0) die("cgroup mount %s: %s", sub, strerror(errno));
        char *st = fdpath(sfd);
        if (mount(cg->dir[i], st, NULL, MS_BIND | MS_REC, NULL)) die("bind %s on %s: %s", cg->dir[i], sub, strerror(errno));
        close(sfd);
        sfd = resolve_create(sub, 0, 0);
        free(st);
        st = fdpath(sfd);
        bind_remount(st, (m->flags & MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, sub);
        close(sfd);
        free(st);
        free(sub);
      }
      if (m->flags & MS_RDONLY) {
        close(fd);
        fd = resolve_create(m->dest, 0, 0);
        free(t);
        t = fdpath(fd);
        if (mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")) die("remount %s ro: %s", m->dest, strerror(errno));
      }
    }
    close(fd);
    free(t);
    return;
  }
  const char *data = m->data[0] ? m->data : NULL;
  const char *src = m->source[0] ? m->source : m->type;
  if (mount(src, t, m->type, m->flags, data)) {
    int e = errno;
    if (!strcmp(m->type, "sysfs") && (e == EPERM || e == EACCES)) {
      /* user namespace without its own network namespace: runc's fallback */
      if (mount("/sys", t, NULL, MS_BIND | MS_REC, NULL)) die("mount sysfs on %s: %s", m->dest, strerror(e));
      close(fd);
      fd = resolve_create(m->dest, 0, 0);
      free(t);
      t = fdpath(fd);
      bind_remount(t, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, m->dest);
    } else {
      die("mount %s on %s (options %s): %s", m->type, m->dest, data ? data : "none", strerror(e));
    }
  }
  if (m->propagation) {
    close(fd);
    fd = resolve_create(m->dest, 0, 0);
    free(t);
    t = fdpath(fd);
    if (mount(NULL, t, NULL, m->propagation, NULL)) die("propagation of %s: %s", m->dest, strerror(errno));
  }
  close(fd);
  free(t);
}

static void make_device(const char *path, char type, unsigned maj, unsigned min, mode_t mode, uid_t uid, gid_t gid) {
  const char *slash = strrchr(path, '/');
  char *dir = xstrdup(path);
  dir[slash - path] = 0;
  const char *name = slash + 1;
  int pfd = resolve_create(dir[0] ? dir : "/", 1, 0);
  if (pfd < 0) die("device %s: %s", path, strerror(errno));
  unlinkat(pfd, name, 0);
  mode_t t = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  if (mknodat(pfd, name, t | (mode & 07777), makedev(maj, min)) == 0) {
    if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW)) die("chown device %s: %s", path, strerror(errno));
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & 07777) != (mode & 07777)) {
      /* umask */
      int f = openat(pfd, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
      if (f >= 0) { char *p = fdpath(f); chmod(p, mode & 07777); free(p); close(f); }
    }
  } else if (errno == EPERM) {
    /* user namespace: bind the host's node instead */
    int f = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0) die("create %s: %s", path, strerror(errno));
    close(f);
    int tfd = resolve_create(path, 0, 0);
    char *tp = fdpath(tfd);
    if (mount(path, tp, NULL, MS_BIND, NULL)) die("bind host device %s: %s", path, strerror(errno));
    close(tfd);
    free(tp);
  } else {
    die("mknod %s: %s", path, strerror(errno));
  }
  close(pfd);
  free(dir);
}

static void make_symlink(const char *target, const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = xstrdup(path);
  dir[slash - path] = 0;
  int pfd = resolve_create(dir, 1, 0);
  if (pfd < 0) die("symlink %s: %s", path, strerror(errno));
  unlinkat(pfd, slash + 1, 0);
  if (symlinkat(target, pfd, slash + 1) && errno != EEXIST) die("symlink %s -> %s: %s", path, target, strerror(errno));
  close(pfd);
  free(dir);
}

static void setup_dev(const spec_t *s) {
  int devmount = 0;
  for (int i = 0; i < s->nmounts; i++)
    if (!strcmp(s->mounts[i].dest, "/dev") && !s->mounts[i].bind) devmount = 1;
  if (devmount) {
    static const struct { const char *p; unsigned maj, min; } DEFS[] = {
      {"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7}, {"/dev/random", 1, 8},
      {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
    };
    for (size_t i = 0; i < sizeof DEFS / sizeof *DEFS; i++) {
      int skip = 0;
      for (int j = 0; j < s->ndevices; j++) if (!strcmp(s->devices[j].path, DEFS[i].p)) skip = 1;
      if (!skip) make_device(DEFS[i].p, 'c', DEFS[i].maj, DEFS[i].min, 0666, 0, 0);
    }
    make_symlink("/proc/self/fd", "/dev/fd");
    make_symlink("/proc/self/fd/0", "/dev/stdin");
    make_symlink("/proc/self/fd/1", "/dev/stdout");
    make_symlink("/proc/self/fd/2", "/dev/stderr");
    if (access("/proc/kcore", F_OK) == 0) make_symlink("/proc/kcore", "/dev/core");
    int pts = 0;
    for (int i = 0; i < s->nmounts; i++) if (!strcmp(s->mounts[i].dest, "/dev/pts")) pts = 1;
    if (pts) make_symlink("pts/ptmx", "/dev/ptmx");
  }
  for (int j = 0; j < s->ndevices; j++) {
    const devspec *d = &s->devices[j];
    char t = d->type == 'u' ? 'c' : d->type;
    make_device(d->path, t, (unsigned)d->major, (unsigned)d->minor, d->mode, d->uid, d->gid);
  }
}

static void pivot(const char *rootfs) {
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0 || newroot < 0) die("open roots: %s", strerror(errno));
  if (fchdir(newroot)) die("fchdir rootfs: %s", strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root %s: %s", rootfs, strerror(errno));
  if (fchdir(oldroot)) die("fchdir old root: %s", strerror(errno));
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL)) die("make old root rslave: %s", strerror(errno));
  if (umount2(".", MNT_DETACH)) die("detach old root: %s", strerror(errno));
  if (chdir("/")) die("chdir /: %s", strerror(errno));
  close(oldroot);
  close(newroot);
}

static void mask_path(const char *p) {
  struct stat st;
  if (lstat(p, &st)) return; /* absent: nothing to hide */
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)) die("mask %s: %s", p, strerror(errno));
  } else {
    if (mount("/dev/null", p, NULL, MS_BIND, NULL)) die("mask %s: %s", p, strerror(errno));
  }
}

static void readonly_path(const char *p) {
  struct stat st;
  if (lstat(p, &st)) return;
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL)) die("bind %s read-only: %s", p, strerror(errno));
  bind_remount(p, MS_RDONLY | MS_REC, p);
}

static void lo_up(void) {
  int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sk < 0) die("socket for lo: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sk, SIOCGIFFLAGS, &ifr)) die("lo flags: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sk, SIOCSIFFLAGS, &ifr)) die("bring lo up: %s", strerror(errno));
  close(sk);
}

void setup_console_and_send(int sockfd, const procspec *p) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die("open /dev/ptmx: %s (is /dev/pts mounted?)", strerror(errno));
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock)) die("unlock pty: %s", strerror(errno));
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  unsigned ptn = 0;
  ioctl(master, TIOCGPTN, &ptn);
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%u", ptn);
  if (slave < 0) slave = open(name, O_RDWR | O_NOCTTY);
  if (slave < 0) die("open pty slave %s: %s", name, strerror(errno));
  if (p->rows || p->cols) {
    struct winsize ws = {p->rows, p->cols, 0, 0};
    ioctl(slave, TIOCSWINSZ, &ws);
  }
  if (ioctl(slave, TIOCSCTTY, 0)) die("make %s the controlling terminal: %s", name, strerror(errno));
  for (int i = 0; i < 3; i++) if (dup2(slave, i) < 0) die("dup2 pty: %s", strerror(errno));
  if (slave > 2) close(slave);
  /* OCI console-socket protocol: one message, the master as SCM_RIGHTS, name as payload */
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  struct iovec iov = {name, strlen(name)};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  memset(&u, 0, sizeof u);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(sockfd, &msg, MSG_NOSIGNAL) < 0) die("send pty master over console socket: %s", strerror(errno));
  close(master);
  close(sockfd);
}

static const char *env_get(const procspec *p, const char *k) {
  size_t kl = strlen(k);
  for (int i = 0; i < p->nenv; i++) if (!strncmp(p->env[i], k, kl) && p->env[i][kl] == '=') return p->env[i] + kl + 1;
  return NULL;
}

char *lookup_exe(const procspec *p) {
  const char *a0 = p->args[0];
  struct stat st;
  if (strchr(a0, '/')) {
    if (stat(a0, &st)) die("exec: \"%s\": stat %s: %s", a0, a0, strerror(errno));
    if (S_ISDIR(st.st_mode)) die("exec: \"%s\": is a directory", a0);
    if (!(st.st_mode & 0111)) die("exec: \"%s\": permission denied", a0);
    return xstrdup(a0);
  }
  const char *path = env_get(p, "PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char *copy = xstrdup(path), *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char *c = xasprintf("%s/%s", *d ? d : ".", a0);
    if (stat(c, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return c;
    free(c);
  }
  die("exec: \"%s\": executable file not found in $PATH", a0);
}

static int capset_(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  d[0].effective = (uint32_t)eff; d[1].effective = (uint32_t)(eff >> 32);
  d[0].permitted = (uint32_t)perm; d[1].permitted = (uint32_t)(perm >> 32);
  d[0].inheritable = (uint32_t)inh; d[1].inheritable = (uint32_t)(inh >> 32);
  return (int)syscall(SYS_capset, &h, d);
}

/* rlimits, user/groups, capabilities, no_new_privs, fd hygiene — the last
 * steps before execve, shared by init and exec. Order matters: the bounding
 * set can only shrink while we still hold CAP_SETPCAP, and setuid() away
 * from root clears the effective set unless KEEPCAPS. */
void finalize_process(const procspec *p, int preserve_fds) {
  /* without no_new_privs the filter must go in while we still hold CAP_SYS_ADMIN (runc's order) */
  if (p->seccomp && !p->nnp) seccomp_apply(p->seccomp, p->seccomp_flags);
  for (int i = 0; i < p->nrl; i++) {
    struct rlimit r = {p->rl[i].soft, p->rl[i].hard};
    if (setrlimit(p->rl[i].res, &r)) die("setrlimit %d: %s", p->rl[i].res, strerror(errno));
  }
  if (p->has_caps) {
    char *lc = read_file("/proc/sys/kernel/cap_last_cap");
    int last = lc ? atoi(lc) : 40;
    if (last <= 0 || last > 63) last = 40;
    for (int c = 0; c <= last; c++)
      if (!(p->cap_bnd & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
        die("drop capability %d from the bounding set: %s", c, strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) die("PR_SET_KEEPCAPS: %s", strerror(errno));
  }
  if (setgroups((size_t)p->ngids, p->gids)) die("setgroups: %s", strerror(errno));
  if (setresgid(p->gid, p->gid, p->gid)) die("setgid %u: %s", (unsigned)p->gid, strerror(errno));
  if (setresuid(p->uid, p->uid, p->uid)) die("setuid %u: %s", (unsigned)p->uid, strerror(errno));
  if (p->has_caps) {
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (capset_(p->cap_eff, p->cap_perm, p->cap_inh)) die("capset: %s", strerror(errno));
    for (int c = 0; c < 64; c++)
      if ((p->cap_amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0))
        die("raise ambient capability %d: %s (it must also be permitted and inheritable)", c, strerror(errno));
  }
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs: %s", strerror(errno));
  if (p->seccomp && p->nnp) seccomp_apply(p->seccomp, p->seccomp_flags);
  unsigned first = 3 + (unsigned)(preserve_fds > 0 ? preserve_fds : 0);
  for (unsigned fd = 3; fd < first; fd++) fcntl((int)fd, F_SETFD, 0); /* --preserve-fds: keep them across exec */
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC)) {
    for (int fd = (int)first; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

static char **env_with_home(const procspec *p) {
  char **env = calloc((size_t)p->nenv + 2, sizeof(char *));
  int n = 0;
  for (int i = 0; i < p->nenv; i++) env[n++] = p->env[i];
  if (!env_get(p, "HOME")) {
    const char *home = "/";
    FILE *f = fopen("/etc/passwd", "re");
    if (f) {
      struct passwd *pw;
      while ((pw = fgetpwent(f))) if (pw->pw_uid == p->uid) { home = pw->pw_dir; break; }
      if (pw) home = xstrdup(home);
      fclose(f);
    }
    env[n++] = xasprintf("HOME=%s", home);
  }
  env[n] = NULL;
  return env;
}

/* User namespaces: container root is an unprivileged host uid that usually cannot create
 * files in the image (owned by host root), so the runtime — still host root, in the host
 * mount namespace — creates the missing destinations of mounts that land directly in the
 * rootfs (not below another mount of the config) before init starts. Same safe resolution;
 * failures are left for init to report. */
void precreate_mountpoints(const spec_t *s) {
  rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return;
  for (int i = 0; i < s->nmounts; i++) {
    const mountspec *m = &s->mounts[i];
    int below = 0;
    for (int j = 0; j < s->nmounts; j++) {
      size_t l = strlen(s->mounts[j].dest);
      if (j != i && l > 1 && !strncmp(m->dest, s->mounts[j].dest, l) && m->dest[l] == '/') below = 1;
    }
    if (below) continue;
    int as_file = 0;
    if (m->bind) {
      struct stat st;
      char *src = m->source[0] == '/' ? xstrdup(m->source) : xasprintf("%s/%s", s->bundle, m->source);
      as_file = stat(src, &st) == 0 && !S_ISDIR(st.st_mode);
      free(src);
    }
    int fd = resolve_create(m->dest, 1, as_file);
    if (fd >= 0) close(fd);
  }
  close(rootfd);
  rootfd = -1;
}

void container_init(init_args *a) {
  spec_t *s = a->s;
  g_errfd = a->sync_fd;
  char go;
  if (read(a->sync_fd, &go, 1) != 1) _exit(1); /* the runtime died */
  trace_phase("init: go");
  if (setsid() < 0) die("setsid: %s", strerror(errno));
  if (s->newflags & CLONE_NEWUSER) {
    if (setresgid(0, 0, 0) || setresuid(0, 0, 0)) die("become root in the user namespace (does uidMappings map container uid 0?): %s", strerror(errno));
    if (setgroups(0, NULL)) die("setgroups in the user namespace: %s", strerror(errno));
  }
  if (s->newcgroupns && unshare(CLONE_NEWCGROUP)) die("unshare cgroup namespace: %s", strerror(errno));
  if (s->hostname && sethostname(s->hostname, strlen(s->hostname))) die("sethostname: %s", strerror(errno));
  if (s->newflags & CLONE_NEWNET) lo_up();

  if (mount(NULL, "/", NULL, s->rootfs_prop, NULL)) die("set rootfs propagation: %s", strerror(errno));
  if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL)) die("bind rootfs %s: %s", s->rootfs, strerror(errno));
  rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("open rootfs %s: %s", s->rootfs, strerror(errno));
  trace_phase("init: namespaces set");
  for (int i = 0; i < s->nmounts; i++) do_mount(s, a->cg, &s->mounts[i]);
  trace_phase("init: mounts done");
  setup_dev(s);
  close(rootfd);
  trace_phase("init: devices done");
  pivot(s->rootfs);
  trace_phase("init: pivoted");

  if (s->proc.terminal) {
    if (a->console_fd < 0) die("process.terminal is true but no --console-socket was given");
    setup_console_and_send(a->console_fd, &s->proc);
  }
  for (int i = 0; i < s->nsysctl; i++) {
    char *path = xasprintf("/proc/sys/%s", s->sysctl_k[i]);
    for (char *q = path + 10; *q; q++) if (*q == '.') *q = '/';
    if (!write_file_ok(path, s->sysctl_v[i])) die("sysctl %s=%s: %s", s->sysctl_k[i], s->sysctl_v[i], strerror(errno));
    free(path);
  }
  for (int i = 0; i < s->nropaths; i++) readonly_path(s->ropaths[i]);
  for (int i = 0; i < s->nmasked; i++) mask_path(s->masked[i]);
  if (s->ro_root) bind_remount("/", MS_RDONLY, "/ (root.readonly)");
  syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);

  if (chdir(s->proc.cwd)) die("chdir to cwd (\"%s\") set in config.json failed: %s", s->proc.cwd, strerror(errno));
  char *exe = lookup_exe(&s->proc);
  char **env = env_with_home(&s->proc);

  trace_phase("init: ready");
  sync_send(a->sync_fd, 'R', "");
  if (a->statedir_fd >= 0) {
    /* created: block until `start` opens the fifo for reading */
    int ff = openat(a->statedir_fd, "exec.fifo", O_WRONLY | O_CLOEXEC);
    if (ff < 0) die("open exec.fifo: %s", strerror(errno));
    if (write(ff, "0", 1) != 1) die("write exec.fifo: %s", strerror(errno));
    close(ff);
    close(a->statedir_fd);
  }
  finalize_process(&s->proc, a->preserve_fds);
  execve(exe, s->proc.args, env);
  int e = errno;
  die("exec %s: %s", exe, strerror(e));
}
