/*
 * berth-monitor: the per-container monitor (conmon's role, ~50 KiB RSS of its own).
 *
 * One monitor process lives as long as one container's task (including its restarts). It is
 * started by a short-lived berth CLI, forks away from it (the CLI's child exits at once, the
 * grandchild carries on in its own session) and then:
 *   1. becomes a child subreaper, so the container's init (whose parent, the runtime, exits)
 *      is re-parented to it and its exit status can be collected;
 *   2. listens on an abstract unix SOCK_STREAM socket (the *attach socket*, Node can open it);
 *   3. mounts the rootfs when asked (-M/-O/-P/-T), in its own (host) mount namespace;
 *   4. runs `RUNTIME --root RTROOT run --detach --bundle BUNDLE [--console-socket S] ID`, owning
 *      the container's stdio (pipes) or receiving the pty master through SCM_RIGHTS (-t);
 *   5. reports "started PID" or "error STATUS MESSAGE" on the sync fd (-S) and closes it;
 *   6. copies output to the json-file log and to every attach client, input from clients to the
 *      container; records status.json at each transition and exit.json after each exit;
 *   7. after an exit: reads the OOM counter, records exit.json (and, unless it restarts,
 *      unmounts the rootfs and records status "exited"), sends the exit frame, then `RUNTIME
 *      delete --force ID`; applies the restart policy (Docker's backoff: 100 ms doubling, reset
 *      after 10 s of running), and when it is done closes the attach clients, runs the optional
 *      exit command (argv after `--`, unless a live CLI claimed the removal), and exits.
 *
 * Attach protocol (both directions, Docker's stdcopy framing):
 *   [type:u8][0][0][0][length:u32 big-endian] payload
 *   client -> monitor: 0 stdin bytes, 4 resize (rows:u16be cols:u16be), 5 close stdin
 *   monitor -> client: 1 stdout, 2 stderr (pty output is 1), 3 exit (JSON {"exitCode":N,"oomKilled":b})
 *
 * Build: plugins/isolation/monitor/build.js (cc -O2 -static-pie when possible).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <linux/mount.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define MAX_REAPED 64
#define LINE_MAX_BYTES 16384

static const char *runtime, *rtroot, *bundle, *cid, *ctrdir, *sockname, *logpath, *policy = "no";
static const char *oomfile, *mnt_type, *mnt_src, *mnt_opts, *mnt_target, *events_file, *ev_name = "", *ev_image = "";
static int tty, keep_stdin, wait_attach, sync_fd = -1;
static long idmap_host = -1, idmap_size = 0; /* -U HOST:SIZE: idmapped lower layers for --userns */
static int n_idmaps, rootfs_mounted;
static void unmount_all(void);
static char **exit_cmd;

static int listen_fd = -1, sig_fd = -1, log_fd = -1;
static int clients[MAX_CLIENTS];
static unsigned char *cbuf[MAX_CLIENTS];
static size_t clen[MAX_CLIENTS];
static int out_fd = -1, err_fd = -1, in_fd = -1; /* container side, from the monitor's view */
static int win_rows, win_cols;
static volatile int stop_requested;
static int restart_count;

static struct { pid_t pid; int status; } reaped[MAX_REAPED];
static int nreaped;

static void die(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (sync_fd >= 0) {
    dprintf(sync_fd, "error 125 %s\n", msg);
  }
  fprintf(stderr, "berth-monitor: %s\n", msg);
  unmount_all();
  _exit(125);
}

static void now_rfc3339(char *buf, size_t n) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%09ldZ", ts.tv_nsec);
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes `path` atomically: temp file, [fsync,] rename. */
static void write_file(const char *name, const char *data, int durable) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", ctrdir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%d", ctrdir, name, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  size_t len = strlen(data), off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) { if (errno == EINTR) continue; break; }
    off += (size_t)w;
  }
  if (durable) fsync(fd);
  close(fd);
  rename(tmp, path);
}

/* exit.json is the record of an exit: durable (unless the container is auto-removed).
 * status.json only needs to be whole (rename): after a power cut a stale "running" is read as
 * "dead", which is the truth anyway. */

static char started_at[64], finished_at[64];
static int last_exit = -1, last_oom, cur_pid;

static void write_status(const char *status, const char *error) {
  char buf[2048];
  snprintf(buf, sizeof buf,
           "{\"status\":\"%s\",\"pid\":%d,\"monitorPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\","
           "\"exitCode\":%d,\"oomKilled\":%s,\"restartCount\":%d,\"error\":\"%s\"}\n",
           status, cur_pid, (int)getpid(), started_at, finished_at, last_exit < 0 ? 0 : last_exit,
           last_oom ? "true" : "false", restart_count, error ? error : "");
  write_file("status.json", buf, 0);
}

/* ---- json-file log ---- */

static unsigned char linebuf[3][LINE_MAX_BYTES];
static size_t linelen[3];

static void log_line(int stream, const unsigned char *p, size_t n) {
  if (log_fd < 0) return;
  static char out[LINE_MAX_BYTES * 6 + 256];
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  size_t o = 0;
  o += (size_t)sprintf(out + o, "{\"log\":\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    switch (c) {
      case '"': out[o++] = '\\'; out[o++] = '"'; break;
      case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
      case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
      case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
      case '\t': out[o++] = '\\'; out[o++] = 't'; break;
      default:
        if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(out + o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
  }
  o += (size_t)sprintf(out + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream == 2 ? "stderr" : "stdout", ts);
  ssize_t w = write(log_fd, out, o);
  (void)w;
}

static void log_data(int stream, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    linebuf[stream][linelen[stream]++] = p[i];
    if (p[i] == '\n' || linelen[stream] == LINE_MAX_BYTES) {
      log_line(stream, linebuf[stream], linelen[stream]);
      linelen[stream] = 0;
    }
  }
}

static void log_flush(void) {
  for (int s = 1; s <= 2; s++)
    if (linelen[s]) { log_line(s, linebuf[s], linelen[s]); linelen[s] = 0; }
}

/* ---- attach clients ---- */

static void drop_client(int i) {
  if (clients[i] >= 0) close(clients[i]);
  clients[i] = -1;
  free(cbuf[i]);
  cbuf[i] = NULL;
  clen[i] = 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void broadcast(int type, const void *p, size_t n) {
  unsigned char hdr[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i] < 0) continue;
    if (write_full(clients[i], hdr, 8) < 0 || write_full(clients[i], p, n) < 0) drop_client(i);
  }
}

static void apply_winsize(void) {
  if (tty && in_fd >= 0 && win_rows > 0 && win_cols > 0) {
    struct winsize ws = {.ws_row = (unsigned short)win_rows, .ws_col = (unsigned short)win_cols};
    ioctl(in_fd, TIOCSWINSZ, &ws);
  }
}

static int accept_client(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i] < 0) { clients[i] = fd; clen[i] = 0; cbuf[i] = malloc(65536 + 8); return i; }
  close(fd);
  return -1;
}

/* Parses frames a client sent; returns -1 when the client must be dropped. */
static int client_input(int i) {
  ssize_t r = read(clients[i], cbuf[i] + clen[i], 65536 + 8 - clen[i]);
  if (r <= 0) return -1;
  clen[i] += (size_t)r;
  for (;;) {
    if (clen[i] < 8) break;
    unsigned char *h = cbuf[i];
    uint32_t n = ((uint32_t)h[4] << 24) | ((uint32_t)h[5] << 16) | ((uint32_t)h[6] << 8) | h[7];
    if (n > 65536) return -1;
    if (clen[i] < 8 + n) break;
    unsigned char *p = h + 8;
    switch (h[0]) {
      case 0:
        if (in_fd >= 0) {
          size_t off = 0;
          while (off < n) {
            ssize_t w = write(in_fd, p + off, n - off);
            if (w < 0) { if (errno == EINTR) continue; break; }
            off += (size_t)w;
          }
        }
        break;
      case 4:
        if (n >= 4) {
          win_rows = (p[0] << 8) | p[1];
          win_cols = (p[2] << 8) | p[3];
          apply_winsize();
        }
        break;
      case 5:
        if (!tty && in_fd >= 0) { close(in_fd); in_fd = -1; }
        break;
      default:
        break;
    }
    memmove(cbuf[i], cbuf[i] + 8 + n, clen[i] - 8 - n);
    clen[i] -= 8 + n;
  }
  return 0;
}

/* ---- children ---- */

static void reap_all(void) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p <= 0) break;
    if (nreaped < MAX_REAPED) { reaped[nreaped].pid = p; reaped[nreaped].status = st; nreaped++; }
    else { memmove(reaped, reaped + 1, sizeof reaped[0] * (MAX_REAPED - 1)); reaped[MAX_REAPED - 1].pid = p; reaped[MAX_REAPED - 1].status = st; }
  }
}

static int take_reaped(pid_t pid, int *status) {
  for (int i = 0; i < nreaped; i++)
    if (reaped[i].pid == pid) {
      *status = reaped[i].status;
      reaped[i] = reaped[--nreaped];
      return 1;
    }
  return 0;
}

static void handle_signals(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) reap_all();
    else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP) stop_requested = 1;
  }
}

static int stop_marker(void) {
  char p[4096];
  snprintf(p, sizeof p, "%s/stop-requested", ctrdir);
  return access(p, F_OK) == 0;
}

/* Runs a command and waits for it (SIGCHLD is blocked; waitpid on the pid directly). */
static int run_sync(char *const argv[], int errpipe_out, char *errbuf, size_t errlen) {
  int ep[2] = {-1, -1};
  if (errbuf && pipe2(ep, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(errbuf ? ep[1] : (errpipe_out >= 0 ? errpipe_out : nul), 2);
    execv(argv[0], argv);
    _exit(127);
  }
  if (errbuf) {
    close(ep[1]);
    size_t got = 0;
    for (;;) {
      ssize_t r = read(ep[0], errbuf + got, errlen - 1 - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
      if (got >= errlen - 1) break;
    }
    errbuf[got] = 0;
    close(ep[0]);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void runtime_delete(void) {
  char *argv[] = {(char *)runtime, "--root", (char *)rtroot, "delete", "--force", (char *)cid, NULL};
  run_sync(argv, -1, NULL, 0);
}

static long read_oom_kills(void) {
  if (!oomfile) return 0;
  FILE *f = fopen(oomfile, "r");
  if (!f) return 0;
  char key[64];
  long v, res = 0;
  while (fscanf(f, "%63s %ld", key, &v) == 2)
    if (strcmp(key, "oom_kill") == 0) res = v;
  fclose(f);
  return res;
}

/* Receives the pty master the runtime sends on the console socket. */
static int recv_fd(int sock) {
  char data[256];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static void json_escape_into(char *dst, size_t n, const char *src) {
  size_t o = 0;
  for (; *src && o + 8 < n; src++) {
    unsigned char c = (unsigned char)*src;
    if (c == '"' || c == '\\') { dst[o++] = '\\'; dst[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(dst + o, n - o, "\\u%04x", c);
    else dst[o++] = (char)c;
  }
  dst[o] = 0;
}

/* Appends a Docker-shaped container event to the engine's event log (one write, O_APPEND). */
static void publish_event(const char *action, int exit_code) {
  if (!events_file) return;
  int fd = open(events_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char name[512], image[1024], line[2400], extra[64] = "";
  json_escape_into(name, sizeof name, ev_name);
  json_escape_into(image, sizeof image, ev_image);
  if (exit_code >= 0) snprintf(extra, sizeof extra, "\"exitCode\":\"%d\",", exit_code);
  int n = snprintf(line, sizeof line,
                   "{\"Type\":\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\",\"Attributes\":{%s\"image\":\"%s\",\"name\":\"%s\"}},"
                   "\"scope\":\"local\",\"time\":%ld,\"timeNano\":%ld%09ld,\"status\":\"%s\",\"id\":\"%s\",\"from\":\"%s\"}\n",
                   action, cid, extra, image, name, (long)ts.tv_sec, (long)ts.tv_sec, ts.tv_nsec, action, cid, image);
  if (n > 0 && (size_t)n < sizeof line) { ssize_t w = write(fd, line, (size_t)n); (void)w; }
  close(fd);
}

static void pump_fd(int *fdp, int stream) {
  unsigned char buf[32768];
  ssize_t r = read(*fdp, buf, sizeof buf);
  if (r > 0) {
    log_data(stream, buf, (size_t)r);
    broadcast(stream, buf, (size_t)r);
  } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
    close(*fdp);
    if (tty && *fdp == in_fd) in_fd = -1;
    *fdp = -1;
  }
}

/*
 * Starts the container once. Returns 0 and sets cur_pid, or the runtime's failure status with
 * its message in errbuf.
 */
static int start_once(char *errbuf, size_t errlen) {
  int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1};
  char cs_path[108] = "";
  int cs_fd = -1;
  errbuf[0] = 0;
  if (tty) {
    snprintf(cs_path, sizeof cs_path, "/tmp/.berth-cs-%d-%d", (int)getpid(), restart_count);
    unlink(cs_path);
    cs_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, cs_path, sizeof a.sun_path - 1);
    if (bind(cs_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(cs_fd, 1) < 0) {
      snprintf(errbuf, errlen, "console socket %s: %s", cs_path, strerror(errno));
      return 125;
    }
    if (pipe2(errp, O_CLOEXEC) < 0) return 125;
  } else {
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) return 125;
    if (keep_stdin && pipe2(inp, O_CLOEXEC) < 0) return 125;
  }
  char pidfile[4096];
  snprintf(pidfile, sizeof pidfile, "%s/init.pid", ctrdir);
  unlink(pidfile);
  char *argv[16];
  int a = 0;
  argv[a++] = (char *)runtime;
  argv[a++] = "--root";
  argv[a++] = (char *)rtroot;
  argv[a++] = "run";
  argv[a++] = "--detach";
  argv[a++] = "--bundle";
  argv[a++] = (char *)bundle;
  argv[a++] = "--pid-file";
  argv[a++] = pidfile;
  if (tty) { argv[a++] = "--console-socket"; argv[a++] = cs_path; }
  argv[a++] = (char *)cid;
  argv[a] = NULL;

  pid_t rt = fork();
  if (rt < 0) return 125;
  if (rt == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int nul = open("/dev/null", O_RDWR);
    if (tty) { dup2(nul, 0); dup2(errp[1], 1); dup2(errp[1], 2); }
    else { dup2(keep_stdin ? inp[0] : nul, 0); dup2(outp[1], 1); dup2(errp[1], 2); }
    execv(runtime, argv);
    dprintf(2, "exec %s: %s", runtime, strerror(errno));
    _exit(125);
  }
  if (tty) { close(errp[1]); }
  else {
    close(outp[1]); close(errp[1]);
    if (keep_stdin) { close(inp[0]); in_fd = inp[1]; }
    out_fd = outp[0];
  }
  /* Wait for the runtime while buffering what it (or an early container) writes. */
  size_t ebl = 0;
  int rtstatus = -1, master = -1;
  int efd = errp[0];
  unsigned char outbuf_hold[65536];
  size_t ohl = 0;
  for (;;) {
    int st;
    if (take_reaped(rt, &st)) { rtstatus = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); break; }
    struct pollfd p[4];
    int n = 0;
    p[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    if (efd >= 0) p[n++] = (struct pollfd){.fd = efd, .events = POLLIN};
    if (!tty && out_fd >= 0) p[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    if (tty && cs_fd >= 0 && master < 0) p[n++] = (struct pollfd){.fd = cs_fd, .events = POLLIN};
    if (poll(p, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
    for (int k = 0; k < n; k++) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (p[k].fd == sig_fd) handle_signals();
      else if (p[k].fd == efd) {
        ssize_t r = read(efd, errbuf + ebl, errlen - 1 - ebl);
        if (r > 0) { ebl += (size_t)r; if (ebl >= errlen - 1) ebl = errlen - 2; }
        else if (r == 0) { close(efd); efd = -1; }
      } else if (p[k].fd == out_fd) {
        ssize_t r = read(out_fd, outbuf_hold + ohl, sizeof outbuf_hold - ohl);
        if (r > 0) ohl += (size_t)r;
        if (ohl == sizeof outbuf_hold || r <= 0) { if (r <= 0) { close(out_fd); out_fd = -1; } }
      } else if (p[k].fd == cs_fd) {
        int c = accept4(cs_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) { master = recv_fd(c); close(c); }
      }
    }
  }
  errbuf[ebl] = 0;
  if (cs_fd >= 0) { close(cs_fd); unlink(cs_path); }
  if (rtstatus != 0) {
    if (efd >= 0) close(efd);
    if (out_fd >= 0) close(out_fd);
    if (in_fd >= 0) close(in_fd);
    if (master >= 0) close(master);
    out_fd = in_fd = -1;
    if (!errbuf[0]) snprintf(errbuf, errlen, "%s run exited with status %d", runtime, rtstatus);
    return rtstatus == 0 ? 125 : rtstatus;
  }
  FILE *pf = fopen(pidfile, "r");
  int pid = 0;
  if (pf) { if (fscanf(pf, "%d", &pid) != 1) pid = 0; fclose(pf); }
  if (pid <= 0) { snprintf(errbuf, errlen, "runtime wrote no pid file"); return 125; }
  cur_pid = pid;
  if (tty) {
    if (efd >= 0) close(efd);
    in_fd = master;
    out_fd = master;
    err_fd = -1;
    apply_winsize();
  } else {
    err_fd = efd;
    /* What the container wrote while the runtime ran is output, not an error. */
    if (ohl) { log_data(1, outbuf_hold, ohl); broadcast(1, outbuf_hold, ohl); }
    if (ebl) { log_data(2, (unsigned char *)errbuf, ebl); broadcast(2, errbuf, ebl); }
    errbuf[0] = 0;
  }
  if (master < 0 && tty) { snprintf(errbuf, errlen, "runtime sent no terminal"); return 125; }
  return 0;
}

/* Serves I/O until the container's init exits and its output is drained; returns wait status. */
static int serve(void) {
  int status = -1;
  double exited_at = 0;
  for (;;) {
    int st;
    if (status < 0 && take_reaped(cur_pid, &st)) { status = st; exited_at = mono_now(); }
    if (status >= 0 && ((out_fd < 0 && err_fd < 0) || mono_now() - exited_at > 1.0)) break;
    struct pollfd p[4 + MAX_CLIENTS];
    int n = 0;
    p[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    if (out_fd >= 0) p[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    if (err_fd >= 0) p[n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
    int base = n;
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (clients[i] >= 0) p[n++] = (struct pollfd){.fd = clients[i], .events = POLLIN};
    int r = poll(p, (nfds_t)n, status >= 0 ? 100 : -1);
    if (r < 0 && errno != EINTR) break;
    if (status >= 0 && r == 0) break;
    for (int k = 0; k < n; k++) {
      if (!p[k].revents) continue;
      if (p[k].fd == sig_fd) handle_signals();
      else if (p[k].fd == listen_fd) accept_client();
      else if (p[k].fd == out_fd && k < base) pump_fd(&out_fd, 1);
      else if (p[k].fd == err_fd && k < base) pump_fd(&err_fd, 2);
      else {
        for (int i = 0; i < MAX_CLIENTS; i++)
          if (clients[i] == p[k].fd) { if (client_input(i) < 0) drop_client(i); break; }
      }
    }
  }
  if (out_fd >= 0) { close(out_fd); if (in_fd == out_fd) in_fd = -1; out_fd = -1; }
  if (err_fd >= 0) { close(err_fd); err_fd = -1; }
  if (in_fd >= 0) { close(in_fd); in_fd = -1; }
  log_flush();
  return status;
}

static int parse_policy(int *max) {
  *max = 0;
  if (strcmp(policy, "always") == 0) return 1;
  if (strcmp(policy, "unless-stopped") == 0) return 2;
  if (strncmp(policy, "on-failure", 10) == 0) {
    if (policy[10] == ':') *max = atoi(policy + 11);
    return 3;
  }
  return 0;
}

/*
 * --userns: the image's layers are owned by host root, which the remapped container root cannot
 * write or even own. Overlayfs cannot be idmapped itself, but its lower layers can (kernel
 * >= 5.19): each lowerdir is cloned as an idmapped mount (host 0..SIZE shown as HOST..HOST+SIZE)
 * under CTRDIR/idmap/N and the overlay is mounted on those, so the container sees its image as
 * its own root's files. The userns for the mapping comes from a short-lived child.
 */
static int idmap_userns_fd(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t c = fork();
  if (c < 0) return -1;
  if (c == 0) {
    char b;
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    close(p[1]);
    ssize_t r = read(p[0], &b, 1);
    (void)r;
    _exit(0);
  }
  close(p[0]);
  char path[64];
  int fd = -1;
  for (int i = 0; i < 200; i++) { /* wait until the child is in its new user namespace */
    char a[64], b2[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)c);
    ssize_t la = readlink(path, a, sizeof a - 1), lb = readlink("/proc/self/ns/user", b2, sizeof b2 - 1);
    if (la > 0 && lb > 0 && (la != lb || memcmp(a, b2, (size_t)la) != 0)) break;
    usleep(1000);
  }
  const char *maps[2] = {"uid_map", "gid_map"};
  for (int m = 0; m < 2; m++) {
    snprintf(path, sizeof path, "/proc/%d/%s", (int)c, maps[m]);
    int mf = open(path, O_WRONLY | O_CLOEXEC);
    if (mf >= 0) { dprintf(mf, "0 %ld %ld\n", idmap_host, idmap_size); close(mf); }
  }
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)c);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  close(p[1]);
  int st;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
  return fd;
}

/* Rewrites "lowerdir=a:b" in opts to idmapped clones; returns a malloc'd option string. */
static char *idmap_lowers(const char *opts) {
  const char *lo = strstr(opts, "lowerdir=");
  if (!lo) return strdup(opts);
  const char *start = lo + 9, *end = strchr(start, ',');
  if (!end) end = start + strlen(start);
  int ns = idmap_userns_fd();
  if (ns < 0) die("--userns: cannot make the id-mapping user namespace: %s", strerror(errno));
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/idmap", ctrdir);
  mkdir(dir, 0700);
  size_t cap = strlen(opts) + 8192;
  char *out = malloc(cap);
  size_t o = (size_t)(lo - opts);
  memcpy(out, opts, o);
  o += (size_t)sprintf(out + o, "lowerdir=");
  const char *q = start;
  while (q < end) {
    const char *c = memchr(q, ':', (size_t)(end - q));
    if (!c) c = end;
    char src[4096];
    snprintf(src, sizeof src, "%.*s", (int)(c - q), q);
    char tgt[4300];
    snprintf(tgt, sizeof tgt, "%s/%d", dir, n_idmaps);
    mkdir(tgt, 0700);
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) die("--userns: open_tree %s: %s", src, strerror(errno));
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)ns};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
      die("--userns: idmapped mount of %s: %s (needs kernel >= 5.19 and a filesystem that supports idmapped mounts)", src, strerror(errno));
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, tgt, MOVE_MOUNT_F_EMPTY_PATH) < 0) die("--userns: move_mount %s: %s", tgt, strerror(errno));
    close(tree);
    n_idmaps++;
    o += (size_t)snprintf(out + o, cap - o, "%s%s", q == start ? "" : ":", tgt);
    q = c < end ? c + 1 : end;
  }
  snprintf(out + o, cap - o, "%s", end);
  close(ns);
  return out;
}

static void unmount_all(void) {
  if (mnt_target && rootfs_mounted) umount2(mnt_target, MNT_DETACH);
  rootfs_mounted = 0;
  for (int i = 0; i < n_idmaps; i++) {
    char tgt[4300];
    snprintf(tgt, sizeof tgt, "%s/idmap/%d", ctrdir, i);
    umount2(tgt, MNT_DETACH);
    rmdir(tgt);
  }
}

/* Auto-removal is claimed once. A foreground CLI claims it when it starts the container (the
 * file then holds its pid) and removes the container itself after the exit; if that CLI is gone
 * (killed), or no CLI claimed (run -d --rm), the monitor takes it over. Returns 1 when the
 * monitor must run the exit command. */
static int claim_removal(void) {
  char claim[4200];
  snprintf(claim, sizeof claim, "%s/rm-claimed", ctrdir);
  for (int attempt = 0; attempt < 2; attempt++) {
    int cf = open(claim, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (cf >= 0) { dprintf(cf, "%d\n", (int)getpid()); close(cf); return 1; }
    if (errno != EEXIST) return 0;
    char buf[32] = {0};
    int rf = open(claim, O_RDONLY | O_CLOEXEC);
    if (rf < 0) return 0;
    ssize_t n = read(rf, buf, sizeof buf - 1);
    close(rf);
    long holder = n > 0 ? strtol(buf, NULL, 10) : 0;
    if (holder <= 0) return 0;                          /* an old-style claim: someone has it */
    if (kill((pid_t)holder, 0) == 0 || errno == EPERM) return 0;  /* its CLI is still there */
    /* The claiming CLI died before removing: take it over (once; a racing taker wins). */
    char mine[4300];
    snprintf(mine, sizeof mine, "%s.%d", claim, (int)getpid());
    if (rename(claim, mine) != 0) return 0;
    unlink(mine);
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: berth-monitor -r RUNTIME -R RTROOT -b BUNDLE -i ID -d CTRDIR -s SOCKNAME [-l LOG] [-t] [-I] [-w] [-p POLICY] [-c OOMFILE] [-M TYPE -O SRC -P OPTS -T TARGET] [-S FD] [-E EVENTS -N NAME -G IMAGE] [-U HOST:SIZE] [-- EXITCMD...]\n");
  exit(125);
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "r:R:b:i:d:s:l:tIwp:c:M:O:P:T:S:E:N:G:U:")) != -1) {
    switch (c) {
      case 'r': runtime = optarg; break;
      case 'R': rtroot = optarg; break;
      case 'b': bundle = optarg; break;
      case 'i': cid = optarg; break;
      case 'd': ctrdir = optarg; break;
      case 's': sockname = optarg; break;
      case 'l': logpath = optarg; break;
      case 't': tty = 1; break;
      case 'I': keep_stdin = 1; break;
      case 'w': wait_attach = 1; break;
      case 'p': policy = optarg; break;
      case 'c': oomfile = optarg; break;
      case 'M': mnt_type = optarg; break;
      case 'O': mnt_src = optarg; break;
      case 'P': mnt_opts = optarg; break;
      case 'T': mnt_target = optarg; break;
      case 'S': sync_fd = atoi(optarg); break;
      case 'E': events_file = optarg; break;
      case 'N': ev_name = optarg; break;
      case 'G': ev_image = optarg; break;
      case 'U': if (sscanf(optarg, "%ld:%ld", &idmap_host, &idmap_size) != 2) usage(); break;
      default: usage();
    }
  }
  if (!runtime || !rtroot || !bundle || !cid || !ctrdir || !sockname) usage();
  if (optind < argc) exit_cmd = argv + optind;

  /* Leave the CLI: our parent (the CLI's child) exits now; we carry on in a new session. */
  pid_t p = fork();
  if (p < 0) die("fork: %s", strerror(errno));
  if (p > 0) _exit(0);
  setsid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  if (chdir(ctrdir) < 0) die("chdir %s: %s", ctrdir, strerror(errno));
  {
    int nul = open("/dev/null", O_RDWR);
    char mlog[4200];
    snprintf(mlog, sizeof mlog, "%s/monitor.log", ctrdir);
    int ml = open(mlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(ml >= 0 ? ml : nul, 2);
    if (nul > 2) close(nul);
    if (ml > 2) close(ml);
  }
  if (sync_fd >= 0) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i] = -1;

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t sl = strlen(sockname);
  if (sl + 1 > sizeof addr.sun_path) die("socket name too long");
  memcpy(addr.sun_path + 1, sockname, sl);
  /* Node (libuv) addresses abstract sockets with the whole, NUL-padded sun_path: do the same. */
  if (bind(listen_fd, (struct sockaddr *)&addr, (socklen_t)sizeof addr) < 0)
    die("attach socket @%s: %s (is another monitor running for this container?)", sockname, strerror(errno));
  listen(listen_fd, 16);

  if (logpath && *logpath) {
    log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) die("log %s: %s", logpath, strerror(errno));
  }
  if (mnt_type && mnt_target) {
    char *opts = idmap_host >= 0 && mnt_opts ? idmap_lowers(mnt_opts) : (mnt_opts ? strdup(mnt_opts) : NULL);
    if (mount(mnt_src ? mnt_src : mnt_type, mnt_target, mnt_type, 0, opts) < 0 && errno != EBUSY) {
      int e = errno;
      unmount_all();
      die("mount %s on %s: %s", mnt_type, mnt_target, strerror(e));
    }
    rootfs_mounted = 1;
    free(opts);
  }
  if (sync_fd >= 0) dprintf(sync_fd, "listening %d\n", (int)getpid());
  if (wait_attach) {
    /* The CLI connects right after "listening". If it dies first (its end of the sync socket
     * hangs up) or never comes, the container is not started: like a `docker run` killed before
     * `start`, it stays created. */
    int attached = 0;
    double until = mono_now() + 10.0;
    while (!attached && mono_now() < until) {
      struct pollfd pf[2] = {{.fd = listen_fd, .events = POLLIN}, {.fd = sync_fd, .events = 0}};
      int r = poll(pf, sync_fd >= 0 ? 2 : 1, 200);
      if (r > 0 && (pf[0].revents & POLLIN)) attached = accept_client() >= 0;
      else if (r > 0 && (pf[1].revents & (POLLHUP | POLLERR))) break;
    }
    if (!attached) {
      unmount_all();
      fprintf(stderr, "berth-monitor: no attach client came; not starting %s\n", cid);
      _exit(125);
    }
  }

  int max_retries, kind = parse_policy(&max_retries);
  double backoff = 0.1;
  int first = 1, final_code = 0;
  for (;;) {
    char errbuf[4096];
    now_rfc3339(started_at, sizeof started_at);
    finished_at[0] = 0;
    double t0 = mono_now();
    int rc = start_once(errbuf, sizeof errbuf);
    if (rc != 0) {
      char esc[4200];
      json_escape_into(esc, sizeof esc, errbuf);
      now_rfc3339(finished_at, sizeof finished_at);
      last_exit = 128; /* Docker records 128 for a start failure; the CLI maps 125/126/127 */
      cur_pid = 0;
      runtime_delete();
      if (first) {
        if (sync_fd >= 0) { dprintf(sync_fd, "error %d %s\n", rc, errbuf); close(sync_fd); sync_fd = -1; }
        write_status("exited", esc);
        final_code = 125;
        { const char *m = "{\"exitCode\":125,\"oomKilled\":false}"; broadcast(3, m, strlen(m)); }
        break;
      }
      write_status("exited", esc);
      final_code = 125;
      break;
    }
    write_status("running", NULL);
    publish_event("start", -1); /* before "started": the CLI may see the exit right after */
    if (first && sync_fd >= 0) { dprintf(sync_fd, "started %d\n", cur_pid); close(sync_fd); sync_fd = -1; }
    first = 0;
    int st = serve();
    last_exit = st < 0 ? 255 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    last_oom = read_oom_kills() > 0;
    now_rfc3339(finished_at, sizeof finished_at);
    final_code = last_exit;
    int again = 0;
    if (!stop_requested && !stop_marker()) {
      if (kind == 1 || kind == 2) again = 1;
      else if (kind == 3 && last_exit != 0 && (max_retries <= 0 || restart_count < max_retries)) again = 1;
    }
    /* The exit is recorded (exit.json, then status "exited" when no restart follows) before
     * anyone hears of it, so a CLI that saw the exit frame finds the container stopped. The
     * runtime's state is deleted afterwards, off the caller's critical path; whoever removes the
     * container waits for this process to be gone first (backend delete). */
    {
      char ex[512];
      snprintf(ex, sizeof ex, "{\"exitCode\":%d,\"oomKilled\":%s,\"finishedAt\":\"%s\",\"startedAt\":\"%s\",\"restartCount\":%d}\n",
               last_exit, last_oom ? "true" : "false", finished_at, started_at, restart_count);
      /* durable, except for an auto-removed container (--rm): it is gone right after anyway */
      write_file("exit.json", ex, !exit_cmd);
      /* A final exit releases the rootfs before it is recorded: whoever sees "exited" may remove
       * the container's snapshot while this process still deletes the runtime's state. */
      if (!again) {
        unmount_all();
        write_status("exited", NULL);
      }
      char fr[128];
      int fl = snprintf(fr, sizeof fr, "{\"exitCode\":%d,\"oomKilled\":%s}", last_exit, last_oom ? "true" : "false");
      broadcast(3, fr, (size_t)fl);
      /* Clients of a container that restarts are done now; on the final exit they stay
       * connected until this process exits, so the socket's end tells them it is all over. */
      if (again) for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i] >= 0) drop_client(i);
      if (last_oom) publish_event("oom", -1);
      publish_event("die", last_exit);
    }
    runtime_delete();
    if (!again) break;
    if (mono_now() - t0 >= 10.0) backoff = 0.1;
    write_status("restarting", NULL);
    publish_event("restart", -1);
    /* Back off, still answering attach clients' connects and signals. */
    double until = mono_now() + backoff;
    while (mono_now() < until && !stop_requested) {
      struct pollfd pf[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = listen_fd, .events = POLLIN}};
      int ms = (int)((until - mono_now()) * 1000) + 1;
      if (poll(pf, 2, ms) > 0) {
        if (pf[0].revents) handle_signals();
        if (pf[1].revents) { int i = accept_client(); if (i >= 0) drop_client(i); }
      }
    }
    if (stop_requested || stop_marker()) { write_status("exited", NULL); break; }
    backoff = backoff * 2 > 60 ? 60 : backoff * 2;
    restart_count++;
  }
  close(listen_fd);
  unmount_all();
  for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i] >= 0) drop_client(i);
  /* Auto-removal is claimed once: a foreground CLI that saw the exit claims it first and removes
   * the container itself; if no CLI is there (run -d --rm, or the CLI was killed) we do. */
  int claimed = 0;
  if (exit_cmd) claimed = claim_removal();
  if (exit_cmd && claimed) {
    pid_t e = fork();
    if (e == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      /* The exit command is a node process (berth rm): it must not inherit a test harness's or
       * debugger's preload hooks from the CLI that started us long ago (they may wait forever for
       * a parent that is gone). */
      unsetenv("NODE_OPTIONS");
      execvp(exit_cmd[0], exit_cmd);
      _exit(127);
    }
    if (e > 0) { int st; while (waitpid(e, &st, 0) < 0 && errno == EINTR) {} }
  }
  return final_code & 0xff;
}
