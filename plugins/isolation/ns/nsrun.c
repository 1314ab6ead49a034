/* nsrun.c — berth-nsrun command line: create, start, run, state, kill,
 * delete, exec, pause, resume (the runc/crun CLI subset berth's oci backend
 * drives), plus the runtime half of every handshake with init (see nsrun.h).
 */
#include "nsrun.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int g_errfd = -1;
static FILE *g_log = NULL;
static int g_log_json = 0;
static const char *g_root = "/run/berth-nsrun";
/* Undo for a create/run that fails half-way (kill init, remove cgroups and state). */
static void (*g_cleanup)(void) = NULL;

/* ---------- small helpers ---------- */

static double g_t0 = 0;
static int g_trace = -1;
void trace_phase(const char *what) {
  if (g_trace < 0) g_trace = getenv("BERTH_NSRUN_TRACE") != NULL;
  if (!g_trace) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  if (g_t0 == 0) g_t0 = now;
  fprintf(stderr, "berth-nsrun[%d] %8.2f ms %s\n", (int)getpid(), now - g_t0, what);
}

char *xstrdup(const char *s) {
  char *r = strdup(s ? s : "");
  if (!r) { perror("strdup"); exit(1); }
  return r;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *r;
  if (vasprintf(&r, fmt, ap) < 0) { perror("vasprintf"); exit(1); }
  va_end(ap);
  return r;
}

void sync_send(int fd, char tag, const char *msg) {
  size_t l = strlen(msg);
  char *buf = malloc(l + 1);
  buf[0] = tag;
  memcpy(buf + 1, msg, l);
  (void)!send(fd, buf, l + 1, MSG_NOSIGNAL);
  free(buf);
}

static void log_line(const char *level, const char *msg) {
  if (!g_log) return;
  if (g_log_json) {
    char ts[64];
    time_t t = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(g_log, "{\"level\":\"%s\",\"msg\":", level);
    json_write_str(g_log, msg);
    fprintf(g_log, ",\"time\":\"%s\"}\n", ts);
  } else {
    fprintf(g_log, "%s: %s\n", level, msg);
  }
  fflush(g_log);
}

void die(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g_errfd >= 0) {
    /* inside init: the runtime prints it */
    struct pollfd pfd = {g_errfd, POLLOUT, 0};
    if (poll(&pfd, 1, 0) == 1 && !(pfd.revents & (POLLERR | POLLHUP))) {
      sync_send(g_errfd, 'E', msg);
      _exit(1);
    }
    fprintf(stderr, "berth-nsrun: %s\n", msg);
    _exit(1);
  }
  log_line("error", msg);
  fprintf(stderr, "berth-nsrun: %s\n", msg);
  if (g_cleanup) {
    void (*c)(void) = g_cleanup;
    g_cleanup = NULL;
    c();
  }
  exit(1);
}

void warnx_(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_line("warning", msg);
  fprintf(stderr, "berth-nsrun: %s\n", msg);
}

void set_log(const char *path, int json) {
  if (path) {
    g_log = fopen(path, "ae");
    if (!g_log) { fprintf(stderr, "berth-nsrun: open log %s: %s\n", path, strerror(errno)); exit(1); }
  }
  g_log_json = json;
}

int write_file_ok(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0) return 0;
  size_t l = strlen(data);
  ssize_t w = write(fd, data, l);
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)l;
}

void write_file(const char *path, const char *data) {
  if (!write_file_ok(path, data)) die("write %s: %s", path, strerror(errno));
}

char *read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) { if (errno == EINTR) continue; close(fd); free(buf); return NULL; }
    if (r == 0) break;
    len += (size_t)r;
    if (len + 1 >= cap) { cap *= 2; buf = realloc(buf, cap); }
  }
  close(fd);
  buf[len] = 0;
  return buf;
}

static void write_atomic(const char *path, const char *data) {
  char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("create %s: %s", tmp, strerror(errno));
  size_t l = strlen(data);
  /* no fsync: state lives on a tmpfs (/run) in practice and rename keeps it whole */
  if (write(fd, data, l) != (ssize_t)l) die("write %s: %s", tmp, strerror(errno));
  close(fd);
  if (rename(tmp, path)) die("rename %s: %s", tmp, strerror(errno));
  free(tmp);
}

static void valid_id(const char *id) {
  if (!id || !*id) die("container id is required");
  if (strlen(id) > 1024) die("container id too long");
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
      die("invalid container id \"%s\": only [A-Za-z0-9_+.-] allowed", id);
  if (!strcmp(id, ".") || !strcmp(id, "..")) die("invalid container id \"%s\"", id);
}

static unsigned long long proc_starttime(pid_t pid, char *state) {
  char *p = xasprintf("/proc/%d/stat", (int)pid);
  char *st = read_file(p);
  free(p);
  if (!st) return 0;
  char *rp = strrchr(st, ')');
  if (!rp) return 0;
  char s;
  unsigned long long start = 0;
  /* fields after comm: state(3) ... starttime(22) */
  char *q = rp + 2;
  s = *q;
  int field = 3;
  while (*q && field < 22) { if (*q == ' ') field++; q++; }
  start = strtoull(q, NULL, 10);
  if (state) *state = s;
  free(st);
  return start;
}

/* ---------- state ---------- */

typedef struct {
  char *id, *bundle, *rootfs, *created;
  pid_t pid;
  unsigned long long starttime;
  cgroups_t cg;
  char *dir;
  int creating; /* the state dir exists but create has not written state.json yet */
} state_t;

static char *state_dir(const char *id) { return xasprintf("%s/%s", g_root, id); }

static void state_save(const state_t *st) {
  char *buf;
  size_t len;
  FILE *f = open_memstream(&buf, &len);
  fprintf(f, "{\"ociVersion\":\"1.0.2\",\"id\":");
  json_write_str(f, st->id);
  fprintf(f, ",\"pid\":%d,\"starttime\":%llu,\"bundle\":", (int)st->pid, st->starttime);
  json_write_str(f, st->bundle);
  fprintf(f, ",\"rootfs\":");
  json_write_str(f, st->rootfs);
  fprintf(f, ",\"created\":");
  json_write_str(f, st->created);
  fprintf(f, ",\"cgroupV2\":%s,\"cgroups\":[", st->cg.v2only ? "true" : "false");
  for (int i = 0; i < st->cg.n; i++) {
    if (i) fputc(',', f);
    fprintf(f, "{\"name\":");
    json_write_str(f, st->cg.name[i]);
    fprintf(f, ",\"dir\":");
    json_write_str(f, st->cg.dir[i]);
    fputc('}', f);
  }
  fprintf(f, "]}\n");
  fclose(f);
  char *p = xasprintf("%s/state.json", st->dir);
  write_atomic(p, buf);
  free(p);
  free(buf);
}

static void state_load(state_t *st, const char *id) {
  valid_id(id);
  memset(st, 0, sizeof *st);
  st->dir = state_dir(id);
  char *p = xasprintf("%s/state.json", st->dir);
  char err[512];
  struct stat sb;
  if (stat(st->dir, &sb)) die("container \"%s\" does not exist", id);
  if (access(p, F_OK) && errno == ENOENT) {
    st->id = xstrdup(id);
    st->bundle = st->rootfs = st->created = xstrdup("");
    st->creating = 1;
    free(p);
    return;
  }
  jv *j = json_parse_file(p, err, sizeof err);
  if (!j) die("container \"%s\": state unreadable: %s", id, err);
  st->id = xstrdup(id);
  st->bundle = xstrdup(jstr(j, "bundle"));
  st->rootfs = xstrdup(jstr(j, "rootfs"));
  st->created = xstrdup(jstr(j, "created"));
  jv *v = jget(j, "pid");
  st->pid = v ? (pid_t)v->i : 0;
  v = jget(j, "starttime");
  st->starttime = v ? (unsigned long long)v->i : 0;
  v = jget(j, "cgroupV2");
  st->cg.v2only = v && v->b;
  jv *cgs = jget(j, "cgroups");
  for (jv *e = cgs ? cgs->child : NULL; e && st->cg.n < MAX_CG; e = e->next) {
    st->cg.name[st->cg.n] = xstrdup(jstr(e, "name"));
    st->cg.dir[st->cg.n] = xstrdup(jstr(e, "dir"));
    st->cg.n++;
  }
  free(p);
}

static int st_alive(const state_t *st) {
  if (st->pid <= 0) return 0;
  char s = 0;
  unsigned long long start = proc_starttime(st->pid, &s);
  return start && start == st->starttime && s != 'Z' && s != 'X';
}

static const char *st_status(const state_t *st) {
  if (st->creating) return "creating";
  if (!st_alive(st)) return "stopped";
  char *fifo = xasprintf("%s/exec.fifo", st->dir);
  int created = access(fifo, F_OK) == 0;
  free(fifo);
  if (created) return "created";
  if (cg_is_frozen(&st->cg)) return "paused";
  return "running";
}

static void now_rfc3339(char *out, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, n, "%s.%09ldZ", b, ts.tv_nsec);
}

static void write_pidfile(const char *path, pid_t pid) {
  if (!path) return;
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)pid);
  char *abs = path[0] == '/' ? xstrdup(path) : NULL;
  if (!abs) { char cwd[4096]; if (!getcwd(cwd, sizeof cwd)) die("getcwd: %s", strerror(errno)); abs = xasprintf("%s/%s", cwd, path); }
  write_atomic(abs, buf);
  free(abs);
}

static int connect_console(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) die("console socket path too long: %s", path);
  strcpy(sa.sun_path, path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect to console socket %s: %s", path, strerror(errno));
  return fd;
}

/* Read init's answer: 'R' → 0; 'E…' → die with its message; EOF → -1. */
static int sync_read(int fd, const char *what) {
  char buf[4200];
  ssize_t r;
  do r = recv(fd, buf, sizeof buf - 1, 0); while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  buf[r] = 0;
  if (buf[0] == 'E') die("%s", buf + 1);
  if (buf[0] == 'R') return 0;
  die("%s: unexpected message from container init", what);
}

static void write_map(pid_t pid, const char *file, const idmap *m, int n) {
  char buf[1024] = "";
  size_t l = 0;
  for (int i = 0; i < n; i++) l += (size_t)snprintf(buf + l, sizeof buf - l, "%u %u %u\n", m[i].inside, m[i].outside, m[i].size);
  char *p = xasprintf("/proc/%d/%s", (int)pid, file);
  if (!write_file_ok(p, buf)) die("write %s (%s): %s", file, buf, strerror(errno));
  free(p);
}

static const char *ns_name(int flag) {
  switch (flag) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWNET: return "net";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNS: return "mnt";
    case CLONE_NEWCGROUP: return "cgroup";
  }
  return "?";
}

/* ---------- terminal proxy (no --console-socket: we hold the master, like runc) ---------- */

static int recv_fd(int sock) {
  char name[256];
  struct iovec iov = {name, sizeof name};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static int g_master = -1;
static volatile sig_atomic_t g_winch = 0;
static void on_winch(int sig) { (void)sig; g_winch = 1; }

static void copy_winsize(void) {
  struct winsize ws;
  if (g_master >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(g_master, TIOCSWINSZ, &ws);
}

/* Copies stdin → master and master → stdout until the pty closes; returns
 * the child's exit status. Our stdin goes raw while we run if it is a tty. */
static int tty_proxy(int master, pid_t child) {
  g_master = master;
  struct termios saved;
  int raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
  }
  copy_winsize();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_winch;
  sigaction(SIGWINCH, &sa, NULL);
  int in_open = 1;
  char buf[8192];
  for (;;) {
    if (g_winch) { g_winch = 0; copy_winsize(); }
    struct pollfd p[2] = {{master, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    int r = poll(p, 2, -1);
    if (r < 0) { if (errno == EINTR) continue; break; }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break; /* EIO: every slave fd is closed */
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(1, buf + off, (size_t)(n - off));
        if (w < 0) { if (errno == EINTR) continue; break; }
        off += w;
      }
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) in_open = 0;
      else for (ssize_t off = 0; off < n;) {
        ssize_t w = write(master, buf + off, (size_t)(n - off));
        if (w < 0) { if (errno == EINTR) continue; break; }
        off += w;
      }
    }
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  int status;
  while (waitpid(child, &status, 0) < 0) if (errno != EINTR) return 1;
  close(master);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/* ---------- create / run ---------- */

static volatile pid_t g_fwd_pid = 0;
static void forward(int sig) { if (g_fwd_pid > 0) kill(g_fwd_pid, sig); }
static void install_forwarding(pid_t pid) {
  g_fwd_pid = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
}

static int wait_status(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid: %s", strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

static void remove_state(const char *dir) {
  const char *files[] = {"exec.fifo", "state.json", "config.json"};
  for (int i = 0; i < 3; i++) { char *p = xasprintf("%s/%s", dir, files[i]); unlink(p); free(p); }
  rmdir(dir);
}

typedef struct {
  const char *bundle, *pidfile, *console;
  int detach;
  int preserve_fds;
} create_opts;

static state_t *g_cst = NULL;
static pid_t g_cpid = 0;
static void create_cleanup(void) {
  if (g_cpid > 0) {
    kill(g_cpid, SIGKILL);
    waitpid(g_cpid, NULL, 0);
  }
  if (g_cst) {
    if (g_cst->cg.n) cg_destroy(&g_cst->cg);
    remove_state(g_cst->dir);
  }
}

/* mode: 0 create, 1 run (foreground or detached) */
static int do_create(const char *id, const create_opts *o, int run) {
  valid_id(id);
  spec_t *s = calloc(1, sizeof *s);
  spec_load(s, o->bundle ? o->bundle : ".");
  trace_phase("config loaded");
  /* run in the foreground with a terminal and no console socket: we hold the master (like runc) */
  int own_tty = s->proc.terminal && !o->console && run && !o->detach;
  if (s->proc.terminal && !o->console && !own_tty) die("process.terminal is true: --console-socket is required");
  if (!s->proc.terminal && o->console) die("--console-socket given but process.terminal is false");
  if (mkdir(g_root, 0711) && errno != EEXIST) die("mkdir %s: %s", g_root, strerror(errno));
  state_t st;
  memset(&st, 0, sizeof st);
  st.id = xstrdup(id);
  st.dir = state_dir(id);
  if (mkdir(st.dir, 0711)) {
    if (errno == EEXIST) die("container with id \"%s\" already exists", id);
    die("mkdir %s: %s", st.dir, strerror(errno));
  }
  chmod(st.dir, 0711);
  g_cst = &st;
  g_cleanup = create_cleanup;
  st.bundle = s->bundle;
  st.rootfs = s->rootfs;
  char created[64];
  now_rfc3339(created, sizeof created);
  st.created = created;
  /* keep the config the container was created with (exec reads it) */
  char *cfg = read_file(xasprintf("%s/config.json", s->bundle));
  if (cfg) write_atomic(xasprintf("%s/config.json", st.dir), cfg);

  int statedir_fd = -1;
  if (!run || o->detach) {
    char *fifo = xasprintf("%s/exec.fifo", st.dir);
    mode_t old = umask(0);
    if (mkfifo(fifo, 0622)) die("mkfifo %s: %s", fifo, strerror(errno));
    umask(old);
    free(fifo);
    statedir_fd = open(st.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (statedir_fd < 0) die("open %s: %s", st.dir, strerror(errno));
  }
  int console_fd = o->console ? connect_console(o->console) : -1;
  int tty_pair[2] = {-1, -1};
  if (own_tty) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_pair)) die("socketpair: %s", strerror(errno));
    console_fd = tty_pair[1];
  }
  cg_compute(&st.cg, s->cgroups_path, id);
  trace_phase("cgroups computed");

  /* join namespaces given by path: user first (others may belong to it) */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < s->nns; i++) {
      if (!s->ns[i].path) continue;
      if ((pass == 0) != (s->ns[i].flag == CLONE_NEWUSER)) continue;
      int fd = open(s->ns[i].path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("open %s namespace %s: %s", ns_name(s->ns[i].flag), s->ns[i].path, strerror(errno));
      if (setns(fd, s->ns[i].flag)) die("join %s namespace %s: %s", ns_name(s->ns[i].flag), s->ns[i].path, strerror(errno));
      close(fd);
    }

  if (s->newflags & CLONE_NEWUSER) precreate_mountpoints(s);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) die("socketpair: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(s->newflags | SIGCHLD), NULL, NULL, NULL, NULL);
  if (pid < 0) {
    int e = errno;
    die("clone(%s%s%s%s%s%s): %s", s->newflags & CLONE_NEWPID ? "pid " : "", s->newflags & CLONE_NEWNS ? "mnt " : "",
        s->newflags & CLONE_NEWUTS ? "uts " : "", s->newflags & CLONE_NEWIPC ? "ipc " : "",
        s->newflags & CLONE_NEWNET ? "net " : "", s->newflags & CLONE_NEWUSER ? "user" : "", strerror(e));
  }
  if (pid == 0) {
    g_cleanup = NULL;
    close(sv[0]);
    if (tty_pair[0] >= 0) close(tty_pair[0]);
    init_args a = {s, &st.cg, sv[1], console_fd, statedir_fd, o->preserve_fds};
    container_init(&a);
  }
  close(sv[1]);
  if (console_fd >= 0) close(console_fd);
  if (statedir_fd >= 0) close(statedir_fd);

  /* anything failing from here must not leave the child or cgroups behind */
  g_cpid = pid;
  trace_phase("cloned");
  st.pid = pid;
  st.starttime = proc_starttime(pid, NULL);
  if (s->newflags & CLONE_NEWUSER) {
    write_map(pid, "uid_map", s->uidm, s->nuid);
    write_map(pid, "gid_map", s->gidm, s->ngid);
  }
  cg_create_apply(&st.cg, s);
  trace_phase("cgroups created");
  cg_join(&st.cg, pid);
  trace_phase("cgroups joined");
  if (s->proc.has_oom) {
    char b[16];
    snprintf(b, sizeof b, "%d", s->proc.oom);
    write_file(xasprintf("/proc/%d/oom_score_adj", (int)pid), b);
  }
  state_save(&st);
  if (send(sv[0], "g", 1, MSG_NOSIGNAL) != 1) die("container init died before setup");
  trace_phase("go sent");
  int r = sync_read(sv[0], "create");
  trace_phase("init ready");
  if (r < 0) {
    int code = wait_status(pid);
    g_cpid = 0;
    die("container init exited during setup (status %d)", code);
  }
  write_pidfile(o->pidfile, pid);
  if (!run) { g_cleanup = NULL; return 0; }
  if (o->detach) {
    /* release it like `start` would */
    char *fifo = xasprintf("%s/exec.fifo", st.dir);
    int ff = open(fifo, O_RDONLY | O_CLOEXEC);
    char b;
    if (ff < 0 || read(ff, &b, 1) != 1) die("start: exec.fifo: %s", strerror(errno));
    close(ff);
    unlink(fifo);
    if (sync_read(sv[0], "run") == 0) die("unexpected message after start");
    g_cleanup = NULL;
    return 0;
  }
  g_cleanup = NULL;
  install_forwarding(pid);
  int master = -1;
  if (own_tty) {
    close(tty_pair[1]);
    master = recv_fd(tty_pair[0]);
    close(tty_pair[0]);
  }
  /* EOF means exec succeeded; an 'E' is an exec failure */
  char buf[4200];
  ssize_t n = recv(sv[0], buf, sizeof buf - 1, 0);
  int exec_failed = 0;
  if (n > 0 && buf[0] == 'E') {
    buf[n] = 0;
    fprintf(stderr, "berth-nsrun: %s\n", buf + 1);
    log_line("error", buf + 1);
    exec_failed = 1;
  }
  trace_phase("exec done");
  int code = master >= 0 ? tty_proxy(master, pid) : wait_status(pid);
  trace_phase("exited");
  /* kill leftovers (a pid namespace dies with its init; a shared one may not) */
  pid_t procs[4096];
  int np = cg_procs(&st.cg, procs, 4096);
  for (int i = 0; i < np; i++) kill(procs[i], SIGKILL);
  cg_destroy(&st.cg);
  remove_state(st.dir);
  trace_phase("cleaned up");
  return exec_failed ? 1 : code;
}

/* ---------- commands ---------- */

static int cmd_start(const char *id) {
  state_t st;
  state_load(&st, id);
  const char *status = st_status(&st);
  if (strcmp(status, "created")) die("cannot start a container that is %s (only a created container can be started)", status);
  char *fifo = xasprintf("%s/exec.fifo", st.dir);
  int ff = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (ff < 0) die("open %s: %s", fifo, strerror(errno));
  for (;;) {
    struct pollfd p = {ff, POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r > 0 && (p.revents & POLLIN)) {
      char b;
      if (read(ff, &b, 1) == 1) break;
    }
    if (!st_alive(&st)) die("container init exited before start");
  }
  close(ff);
  unlink(fifo);
  return 0;
}

static int cmd_state(const char *id) {
  state_t st;
  state_load(&st, id);
  const char *status = st_status(&st);
  printf("{\n  \"ociVersion\": \"1.0.2\",\n  \"id\": ");
  json_write_str(stdout, st.id);
  printf(",\n  \"pid\": %d,\n  \"status\": \"%s\",\n  \"bundle\": ", strcmp(status, "stopped") ? (int)st.pid : 0, status);
  json_write_str(stdout, st.bundle);
  printf(",\n  \"rootfs\": ");
  json_write_str(stdout, st.rootfs);
  printf(",\n  \"created\": ");
  json_write_str(stdout, st.created);
  printf(",\n  \"owner\": \"\"\n}\n");
  return 0;
}

static int cmd_kill(const char *id, const char *sigs, int all) {
  state_t st;
  state_load(&st, id);
  int sig = signal_from_name(sigs ? sigs : "TERM");
  if (sig < 0) die("unknown signal \"%s\"", sigs);
  const char *status = st_status(&st);
  if (!strcmp(status, "stopped") || !strcmp(status, "creating")) die("container \"%s\" is not running (%s)", id, status);
  if (all) {
    pid_t procs[8192];
    int n = cg_procs(&st.cg, procs, 8192);
    for (int i = 0; i < n; i++) kill(procs[i], sig);
    if (!strcmp(status, "paused") && (sig == SIGKILL || sig == SIGTERM)) cg_freeze(&st.cg, 0);
    return 0;
  }
  if (kill(st.pid, sig)) die("kill %d: %s", (int)st.pid, strerror(errno));
  if (!strcmp(status, "paused") && sig == SIGKILL) cg_freeze(&st.cg, 0);
  return 0;
}

static int cmd_delete(const char *id, int force) {
  state_t st;
  char *dir = state_dir(id);
  struct stat sb;
  valid_id(id);
  if (stat(dir, &sb)) {
    if (force) return 0; /* like runc: delete -f of a missing container is fine */
    die("container \"%s\" does not exist", id);
  }
  state_load(&st, id);
  const char *status = st_status(&st);
  if (!strcmp(status, "running") || !strcmp(status, "paused") || !strcmp(status, "creating")) {
    if (!force) die("cannot delete container \"%s\" that is %s: stop it or use --force", id, status);
  }
  if (st.creating) {
    /* a create died (or is running) before writing state: only its directory is known */
    remove_state(st.dir);
    return 0;
  }
  if (strcmp(status, "stopped")) {
    pid_t procs[8192];
    int n = cg_procs(&st.cg, procs, 8192);
    kill(st.pid, SIGKILL);
    for (int i = 0; i < n; i++) kill(procs[i], SIGKILL);
    if (!strcmp(status, "paused")) cg_freeze(&st.cg, 0);
    for (int i = 0; i < 500 && st_alive(&st); i++) usleep(10000);
  }
  /* anything left in the cgroup (a shared pid namespace) goes too */
  pid_t procs[8192];
  for (int round = 0; round < 100; round++) {
    int n = cg_procs(&st.cg, procs, 8192);
    if (!n) break;
    for (int i = 0; i < n; i++) kill(procs[i], SIGKILL);
    usleep(10000);
  }
  cg_destroy(&st.cg);
  remove_state(st.dir);
  return 0;
}

static int cmd_pause(const char *id, int pause) {
  state_t st;
  state_load(&st, id);
  const char *status = st_status(&st);
  if (pause && strcmp(status, "running")) die("cannot pause a container that is %s", status);
  if (!pause && strcmp(status, "paused")) die("cannot resume a container that is %s", status);
  if (cg_freeze(&st.cg, pause)) die("%s: the freezer did not settle", pause ? "pause" : "resume");
  return 0;
}

typedef struct {
  const char *process, *pidfile, *console, *cwd, *user;
  const char *join_pid, *join_bundle; /* berth extension: a container another runtime made */
  int detach, tty, preserve_fds;
  const char *env[256]; int nenv;
} exec_opts;

/* /proc/PID/cgroup (the host's view) into buf; 0 when unreadable. */
static int read_proc_cgroup(pid_t pid, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  return 1;
}

/* Whether the process sits in a cgroup named after the container: a pid that was recycled after
 * the container's init died does not. */
static int pid_in_container_cgroup(pid_t pid, const char *id) {
  char buf[16384];
  if (!read_proc_cgroup(pid, buf, sizeof buf)) return 0;
  char *needle = xasprintf("/%s\n", id);
  int found = strstr(buf, needle) != NULL;
  free(needle);
  return found;
}

/* On a hybrid host another runtime may also have put the container's init in the cgroup2
 * ("unified") tree, which cg_compute leaves out: join it as well, so an exec'd process sits in
 * exactly the cgroups of the init (what `runc exec` does). */
static void join_unified_too(cgroups_t *cg, pid_t pid) {
  char buf[16384];
  if (cg->v2only || cg->n >= MAX_CG || !read_proc_cgroup(pid, buf, sizeof buf)) return;
  char *line = strstr(buf, "0::");
  if (!line || (line != buf && line[-1] != '\n')) return;
  char *rel = line + 3, *nl = strchr(rel, '\n');
  if (nl) *nl = 0;
  if (!strcmp(rel, "/") || !*rel) return;
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return;
  char l[8192], mp[1024] = "";
  while (fgets(l, sizeof l, f)) {
    char *sep = strstr(l, " - ");
    if (!sep || strncmp(sep + 3, "cgroup2 ", 8)) continue;
    char root[1024];
    if (sscanf(l, "%*s %*s %*s %1023s %1023s", root, mp) == 2 && !strcmp(root, "/")) break;
    mp[0] = 0;
  }
  fclose(f);
  if (!mp[0]) return;
  cg->name[cg->n] = xstrdup("unified");
  cg->dir[cg->n] = xasprintf("%s%s", mp, rel);
  cg->n++;
}

static int cmd_exec(const char *id, const exec_opts *o, char **args, int nargs) {
  state_t st;
  char err[512];
  jv *cfg;
  if (o->join_pid) {
    /* --join-pid PID --join-bundle DIR: enter a running container that another OCI runtime
     * created from DIR/config.json (its init is PID), applying the same process spec, seccomp
     * filter and cgroups as for our own containers. */
    memset(&st, 0, sizeof st);
    valid_id(id);
    st.pid = (pid_t)strtol(o->join_pid, NULL, 10);
    st.dir = xstrdup(o->join_bundle);
    cfg = json_parse_file(xasprintf("%s/config.json", st.dir), err, sizeof err);
    if (!cfg) die("%s", err);
    if (st.pid <= 0 || !pid_in_container_cgroup(st.pid, id)) die("cannot exec in a container that is stopped");
    jv *lx = jget(cfg, "linux");
    cg_compute(&st.cg, lx ? jstr(lx, "cgroupsPath") : "", id);
    join_unified_too(&st.cg, st.pid);
  } else {
    state_load(&st, id);
    const char *status = st_status(&st);
    if (strcmp(status, "running") && strcmp(status, "created")) die("cannot exec in a container that is %s", status);
    cfg = json_parse_file(xasprintf("%s/config.json", st.dir), err, sizeof err);
    if (!cfg) die("%s", err);
  }
  procspec p;
  memset(&p, 0, sizeof p);
  if (o->process) {
    jv *pj = json_parse_file(o->process, err, sizeof err);
    if (!pj) die("%s", err);
    p.cwd = "/";
    proc_parse(&p, pj, "process");
  } else {
    /* the container's process defaults, then the flags */
    p.cwd = "/";
    proc_parse(&p, jget(cfg, "process"), "process");
    p.args = args;
    p.nargs = nargs;
    p.terminal = o->tty;
    if (o->cwd) p.cwd = xstrdup(o->cwd);
    if (o->nenv) {
      char **env = calloc((size_t)(p.nenv + o->nenv + 1), sizeof(char *));
      int n = 0;
      for (int i = 0; i < p.nenv; i++) env[n++] = p.env[i];
      for (int i = 0; i < o->nenv; i++) env[n++] = (char *)o->env[i];
      p.env = env;
      p.nenv = n;
    }
    if (o->user) {
      char *u = xstrdup(o->user), *c = strchr(u, ':');
      if (c) { *c = 0; p.gid = (gid_t)strtoul(c + 1, NULL, 10); }
      char *end;
      p.uid = (uid_t)strtoul(u, &end, 10);
      if (*end || !*u) die("--user %s: only numeric UID[:GID] is supported", o->user);
      if (!c) p.gid = 0;
      p.ngids = 0;
    }
  }
  if (o->tty) p.terminal = 1;
  caps_check_available(&p);
  /* the container's seccomp filter applies to exec'd processes too */
  jv *sc = jget(jget(cfg, "linux"), "seccomp");
  if (sc && sc->t == J_OBJ && !jempty(sc)) seccomp_compile(sc, &p.seccomp, &p.seccomp_flags);
  if (!p.nargs || !p.args) die("exec: no command given");
  if (p.terminal && !o->console && o->detach) die("exec --detach with a terminal needs --console-socket");
  if (o->console && !p.terminal) die("--console-socket given but the process has no terminal");
  int console_fd = o->console ? connect_console(o->console) : -1;
  int tty_pair[2] = {-1, -1};
  if (p.terminal && !o->console) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_pair)) die("socketpair: %s", strerror(errno));
    console_fd = tty_pair[1];
  }

  /* not dumpable: the container cannot ptrace us or open our /proc entries while we are in it */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* join the cgroups first (inherited by the child), then the namespaces */
  cg_join(&st.cg, getpid());
  static const int order[] = {CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWNS};
  int fds[7];
  for (int i = 0; i < 7; i++) {
    fds[i] = -1;
    char *mine = xasprintf("/proc/self/ns/%s", ns_name(order[i]));
    char *theirs = xasprintf("/proc/%d/ns/%s", (int)st.pid, ns_name(order[i]));
    struct stat a, b;
    if (stat(mine, &a) || stat(theirs, &b)) die("exec: namespace %s of pid %d: %s", ns_name(order[i]), (int)st.pid, strerror(errno));
    if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
      if (fds[i] < 0) die("open %s: %s", theirs, strerror(errno));
    }
  }
  /* the pid file is written from the host's mount namespace (we never join it; the child does) */
  int pid_dirfd = -1;
  char *pid_base = NULL;
  if (o->pidfile) {
    char *abs = o->pidfile[0] == '/' ? xstrdup(o->pidfile) : NULL;
    if (!abs) { char cwd[4096]; if (!getcwd(cwd, sizeof cwd)) die("getcwd: %s", strerror(errno)); abs = xasprintf("%s/%s", cwd, o->pidfile); }
    char *sl = strrchr(abs, '/');
    pid_base = xstrdup(sl + 1);
    *sl = 0;
    pid_dirfd = open(abs[0] ? abs : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pid_dirfd < 0) die("pid file directory %s: %s", abs, strerror(errno));
  }
  for (int i = 0; i < 6; i++) /* all but mnt (last in order[]) */
    if (fds[i] >= 0) {
      if (setns(fds[i], order[i])) die("join %s namespace of the container: %s", ns_name(order[i]), strerror(errno));
      close(fds[i]);
    }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) die("socketpair: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(sv[0]);
    if (tty_pair[0] >= 0) close(tty_pair[0]);
    g_errfd = sv[1];
    if (fds[6] >= 0 && setns(fds[6], CLONE_NEWNS)) die("join mnt namespace of the container: %s", strerror(errno));
    if (setsid() < 0) die("setsid: %s", strerror(errno));
    if (p.terminal) setup_console_and_send(console_fd, &p);
    if (chdir(p.cwd)) die("exec: chdir to %s: %s", p.cwd, strerror(errno));
    char *exe = lookup_exe(&p);
    char **env = calloc((size_t)p.nenv + 2, sizeof(char *));
    int n = 0, home = 0;
    for (int i = 0; i < p.nenv; i++) { env[n++] = p.env[i]; if (!strncmp(p.env[i], "HOME=", 5)) home = 1; }
    if (!home) env[n++] = p.uid == 0 ? "HOME=/root" : "HOME=/";
    finalize_process(&p, o->preserve_fds);
    execve(exe, p.args, env);
    die("exec %s: %s", exe, strerror(errno));
  }
  close(sv[1]);
  if (console_fd >= 0) close(console_fd);
  char buf[4200];
  ssize_t n;
  do n = recv(sv[0], buf, sizeof buf - 1, 0); while (n < 0 && errno == EINTR);
  if (n > 0 && buf[0] == 'E') {
    buf[n] = 0;
    waitpid(pid, NULL, 0);
    die("%s", buf + 1);
  }
  if (fds[6] >= 0) close(fds[6]);
  if (pid_dirfd >= 0) {
    char buf[32], tmpn[300];
    snprintf(buf, sizeof buf, "%d", (int)pid);
    snprintf(tmpn, sizeof tmpn, ".%s.tmp%d", pid_base, (int)getpid());
    int f = openat(pid_dirfd, tmpn, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0 || write(f, buf, strlen(buf)) != (ssize_t)strlen(buf)) die("write pid file %s: %s", o->pidfile, strerror(errno));
    close(f);
    if (renameat(pid_dirfd, tmpn, pid_dirfd, pid_base)) die("rename pid file %s: %s", o->pidfile, strerror(errno));
    close(pid_dirfd);
  }
  if (o->detach) return 0;
  install_forwarding(pid);
  if (tty_pair[0] >= 0) {
    close(tty_pair[1]);
    int master = recv_fd(tty_pair[0]);
    close(tty_pair[0]);
    if (master < 0) die("exec: the process sent no terminal");
    return tty_proxy(master, pid);
  }
  return wait_status(pid);
}

/* ---------- CVE-2019-5736 defence ---------- */

/* A process that enters a container (init before its execve, every `exec`) could let the
 * container open /proc/PID/exe — this very binary on the host — and overwrite it. Like runc,
 * we first re-exec from a sealed, anonymous copy (memfd), so the file they can reach is
 * read-only and private to this invocation. */
static void reexec_from_memfd(char **argv) {
  char self[64];
  ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
  if (l > 0) {
    self[l] = 0;
    if (!strncmp(self, "/memfd:berth-nsrun", 18)) return; /* already the copy */
  }
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) die("open /proc/self/exe: %s", strerror(errno));
  int mfd = (int)syscall(SYS_memfd_create, "berth-nsrun", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) die("memfd_create: %s", strerror(errno));
  struct stat st;
  if (fstat(src, &st)) die("fstat /proc/self/exe: %s", strerror(errno));
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, NULL, (size_t)(st.st_size - off));
    if (n <= 0) die("copy self into memfd: %s", strerror(errno));
    off += n;
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) die("seal memfd: %s", strerror(errno));
  extern char **environ;
  fexecve(mfd, argv, environ);
  die("re-exec from memfd: %s", strerror(errno));
}

/* ---------- argument parsing ---------- */

static void usage(void) {
  fprintf(stderr,
          "usage: berth-nsrun [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...\n"
          "commands:\n"
          "  create --bundle DIR [--pid-file F] [--console-socket SOCK] [--preserve-fds N] ID\n"
          "  start ID\n"
          "  run --bundle DIR [--pid-file F] [--console-socket SOCK] [--detach] ID\n"
          "  state ID\n"
          "  kill [--all] ID [SIGNAL]\n"
          "  delete [--force] ID\n"
          "  exec [--process F] [--pid-file F] [--console-socket S] [--detach] [--tty] [--cwd D]\n"
          "       [--env K=V]... [--user UID[:GID]] ID [ARGS...]\n"
          "  pause ID | resume ID | features | --version\n");
  exit(1);
}

/* accepts --opt VALUE, --opt=VALUE, -o VALUE */
static int optval(char **argv, int argc, int *i, const char *lng, const char *shrt, const char **out) {
  const char *a = argv[*i];
  size_t l = strlen(lng);
  if (!strncmp(a, lng, l) && a[l] == '=') { *out = a + l + 1; return 1; }
  if (!strcmp(a, lng) || (shrt && !strcmp(a, shrt))) {
    if (*i + 1 >= argc) die("%s needs a value", lng);
    *out = argv[++*i];
    return 1;
  }
  return 0;
}

static int is_flag(const char *a, const char *lng, const char *shrt) {
  return !strcmp(a, lng) || (shrt && !strcmp(a, shrt)) || (!strncmp(a, lng, strlen(lng)) && !strcmp(a + strlen(lng), "=true"));
}

int main(int argc, char **argv) {
  trace_phase("start");
  int i = 1;
  const char *logp = NULL;
  int json = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *v;
    if (optval(argv, argc, &i, "--root", NULL, &v)) g_root = v;
    else if (optval(argv, argc, &i, "--log", NULL, &v)) logp = v;
    else if (optval(argv, argc, &i, "--log-format", NULL, &v)) json = !strcmp(v, "json");
    else if (!strcmp(argv[i], "--debug")) {}
    else if (!strcmp(argv[i], "--systemd-cgroup")) die("--systemd-cgroup is not supported by berth-nsrun (cgroupfs only)");
    else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v")) {
      printf("berth-nsrun version %s\nspec: 1.0.2\n", NSRUN_VERSION);
      return 0;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) usage();
    else die("unknown global option %s", argv[i]);
  }
  set_log(logp, json);
  if (i >= argc) usage();
  const char *cmd = argv[i++];
  if (!strcmp(cmd, "create") || !strcmp(cmd, "run") || !strcmp(cmd, "exec")) {
    reexec_from_memfd(argv);
    trace_phase("running from a sealed copy");
  }
  if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
    create_opts o = {0};
    const char *id = NULL;
    for (; i < argc; i++) {
      const char *v;
      if (optval(argv, argc, &i, "--bundle", "-b", &v)) o.bundle = v;
      else if (optval(argv, argc, &i, "--pid-file", NULL, &v)) o.pidfile = v;
      else if (optval(argv, argc, &i, "--console-socket", NULL, &v)) o.console = v;
      else if (optval(argv, argc, &i, "--preserve-fds", NULL, &v)) o.preserve_fds = atoi(v);
      else if (is_flag(argv[i], "--detach", "-d")) o.detach = 1;
      else if (is_flag(argv[i], "--no-new-keyring", NULL) || is_flag(argv[i], "--no-subreaper", NULL)) {}
      else if (is_flag(argv[i], "--no-pivot", NULL)) die("--no-pivot is not supported: berth-nsrun always uses pivot_root");
      else if (argv[i][0] == '-') die("%s: unknown option %s", cmd, argv[i]);
      else if (!id) id = argv[i];
      else die("%s: unexpected argument %s", cmd, argv[i]);
    }
    if (!id) die("%s: container id is required", cmd);
    if (!strcmp(cmd, "create") && o.detach) die("create: unknown option --detach");
    return do_create(id, &o, !strcmp(cmd, "run"));
  }
  if (!strcmp(cmd, "exec")) {
    exec_opts o;
    memset(&o, 0, sizeof o);
    const char *id = NULL;
    for (; i < argc; i++) {
      const char *v;
      if (!id && optval(argv, argc, &i, "--process", "-p", &v)) o.process = v;
      else if (!id && optval(argv, argc, &i, "--join-pid", NULL, &v)) o.join_pid = v;
      else if (!id && optval(argv, argc, &i, "--join-bundle", NULL, &v)) o.join_bundle = v;
      else if (!id && optval(argv, argc, &i, "--pid-file", NULL, &v)) o.pidfile = v;
      else if (!id && optval(argv, argc, &i, "--console-socket", NULL, &v)) o.console = v;
      else if (!id && optval(argv, argc, &i, "--cwd", NULL, &v)) o.cwd = v;
      else if (!id && optval(argv, argc, &i, "--user", "-u", &v)) o.user = v;
      else if (!id && optval(argv, argc, &i, "--preserve-fds", NULL, &v)) o.preserve_fds = atoi(v);
      else if (!id && optval(argv, argc, &i, "--env", "-e", &v)) {
        if (o.nenv >= 256) die("exec: too many --env");
        if (!strchr(v, '=')) die("exec: --env %s must be KEY=VALUE", v);
        o.env[o.nenv++] = v;
      } else if (!id && is_flag(argv[i], "--detach", "-d")) o.detach = 1;
      else if (!id && is_flag(argv[i], "--tty", "-t")) o.tty = 1;
      else if (!id && is_flag(argv[i], "--no-new-privs", NULL)) {}
      else if (!id && !strcmp(argv[i], "--")) continue;
      else if (!id && argv[i][0] == '-') die("exec: unknown option %s", argv[i]);
      else if (!id) id = argv[i];
      else {
        if (!strcmp(argv[i], "--") && i + 1 < argc) i++;
        if (!o.join_pid != !o.join_bundle) die("exec: --join-pid and --join-bundle go together");
        return cmd_exec(id, &o, argv + i, argc - i);
      }
    }
    if (!id) die("exec: container id is required");
    if (!o.join_pid != !o.join_bundle) die("exec: --join-pid and --join-bundle go together");
    return cmd_exec(id, &o, NULL, 0);
  }
  if (!strcmp(cmd, "kill")) {
    int all = 0;
    const char *id = NULL, *sig = NULL;
    for (; i < argc; i++) {
      if (is_flag(argv[i], "--all", "-a")) all = 1;
      else if (!id) id = argv[i];
      else if (!sig) sig = argv[i];
      else die("kill: unexpected argument %s", argv[i]);
    }
    if (!id) die("kill: container id is required");
    return cmd_kill(id, sig, all);
  }
  if (!strcmp(cmd, "delete")) {
    int force = 0;
    const char *id = NULL;
    for (; i < argc; i++) {
      if (is_flag(argv[i], "--force", "-f")) force = 1;
      else if (!id) id = argv[i];
      else die("delete: unexpected argument %s", argv[i]);
    }
    if (!id) die("delete: container id is required");
    return cmd_delete(id, force);
  }
  if (i >= argc && strcmp(cmd, "features")) die("%s: container id is required", cmd);
  if (!strcmp(cmd, "start")) return cmd_start(argv[i]);
  if (!strcmp(cmd, "state")) return cmd_state(argv[i]);
  if (!strcmp(cmd, "pause")) return cmd_pause(argv[i], 1);
  if (!strcmp(cmd, "resume")) return cmd_pause(argv[i], 0);
  if (!strcmp(cmd, "features")) {
    printf("{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.0.2\",\"hooks\":[],"
           "\"mountOptions\":[\"ro\",\"rw\",\"nosuid\",\"suid\",\"nodev\",\"dev\",\"noexec\",\"exec\",\"bind\",\"rbind\","
           "\"private\",\"rprivate\",\"shared\",\"rshared\",\"slave\",\"rslave\"],"
           "\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"user\",\"uts\"],"
           "\"cgroup\":{\"v1\":true,\"v2\":true,\"systemd\":false},\"seccomp\":{\"enabled\":true,\"actions\":[\"SCMP_ACT_ALLOW\",\"SCMP_ACT_ERRNO\",\"SCMP_ACT_KILL\",\"SCMP_ACT_KILL_PROCESS\",\"SCMP_ACT_KILL_THREAD\",\"SCMP_ACT_LOG\",\"SCMP_ACT_TRACE\",\"SCMP_ACT_TRAP\"],\"operators\":[\"SCMP_CMP_EQ\",\"SCMP_CMP_GE\",\"SCMP_CMP_GT\",\"SCMP_CMP_LE\",\"SCMP_CMP_LT\",\"SCMP_CMP_MASKED_EQ\",\"SCMP_CMP_NE\"],\"archs\":[\"SCMP_ARCH_X86_64\"]},"
           "\"apparmor\":{\"enabled\":false},\"selinux\":{\"enabled\":false}}}\n");
    return 0;
  }
  die("unknown command \"%s\"", cmd);
}
