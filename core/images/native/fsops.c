/*
 * berth-fsops: the few filesystem operations Node has no API for (mknod, mkfifo, setxattr),
 * batched: one process per layer apply, not one per entry.
 *
 * Usage: berth-fsops ROOT < ops
 * Each op on stdin is a one-byte code followed by NUL-terminated fields:
 *   'N' path NUL mode-octal NUL major NUL minor NUL   mknod (mode includes S_IFCHR/S_IFBLK/S_IFIFO)
 *   'X' path NUL name NUL length-decimal NUL <length bytes>   lsetxattr on the entry itself
 *   'G' path NUL name NUL   lgetxattr: writes "<length>\n<bytes>" to stdout, or "-\n" when unset
 * `path` is relative to ROOT ("" = ROOT itself). Every directory component is opened with
 * O_NOFOLLOW|O_DIRECTORY from the previous one (openat), so a symlink anywhere in the path makes
 * the op fail instead of being followed: nothing can be created outside ROOT. "." and ".."
 * components are refused. The last component is never followed either (mknodat creates it,
 * lsetxattr on /proc/self/fd/<dirfd>/<name> does not dereference it).
 * On the first failure: message on stderr, exit 1. Exit 0 after all ops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

static int rootfd = -1;

static void die(const char *op, const char *path, const char *why) {
  fprintf(stderr, "%s %s: %s\n", op, path, why);
  exit(1);
}

/* Reads bytes up to and including a NUL; returns a malloc'd string or NULL at EOF. */
static char *field(FILE *in) {
  size_t cap = 256, len = 0;
  char *s = malloc(cap);
  int c;
  if (!s) die("read", "-", "out of memory");
  while ((c = fgetc(in)) != EOF) {
    if (len + 1 >= cap) {
      cap *= 2;
      s = realloc(s, cap);
      if (!s) die("read", "-", "out of memory");
    }
    if (c == 0) { s[len] = 0; return s; }
    s[len++] = (char)c;
  }
  free(s);
  return NULL;
}

/* Opens the parent directory of `path` without following symlinks; sets *base to the last name. */
static int open_parent(const char *op, char *path, char **base) {
  int fd = dup(rootfd);
  char *p = path, *slash;
  if (fd < 0) die(op, path, strerror(errno));
  if (*path == 0) { *base = NULL; return fd; }
  while ((slash = strchr(p, '/')) != NULL) {
    *slash = 0;
    if (*p == 0 || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) die(op, path, "bad path component");
    int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) die(op, path, errno == ELOOP ? "a path component is a symlink" : strerror(errno));
    close(fd);
    fd = next;
    *slash = '/';
    p = slash + 1;
  }
  if (*p == 0 || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) die(op, path, "bad path component");
  *base = p;
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: berth-fsops ROOT < ops\n"); return 2; }
  umask(0);
  rootfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("open", argv[1], strerror(errno));
  FILE *in = stdin;
  int code;
  while ((code = fgetc(in)) != EOF) {
    char *path = field(in);
    if (!path) die("read", "-", "truncated op");
    if (code == 'N') {
      char *mode = field(in), *maj = field(in), *min = field(in);
      if (!mode || !maj || !min) die("mknod", path, "truncated op");
      char *base;
      int dfd = open_parent("mknod", path, &base);
      if (!base) die("mknod", path, "cannot replace the root");
      mode_t m = (mode_t)strtoul(mode, NULL, 8);
      dev_t dev = makedev(strtoul(maj, NULL, 10), strtoul(min, NULL, 10));
      if (mknodat(dfd, base, m, dev) != 0) die("mknod", path, strerror(errno));
      close(dfd);
      free(mode); free(maj); free(min);
    } else if (code == 'X') {
      char *name = field(in), *lens = field(in);
      if (!name || !lens) die("setxattr", path, "truncated op");
      size_t len = strtoul(lens, NULL, 10);
      char *val = malloc(len ? len : 1);
      if (!val) die("setxattr", path, "out of memory");
      if (len && fread(val, 1, len, in) != len) die("setxattr", path, "truncated value");
      char *base;
      int dfd = open_parent("setxattr", path, &base);
      char proc[64 + 4096];
      int rc;
      if (base) {
        snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, base);
        rc = lsetxattr(proc, name, val, len, 0);
      } else {
        rc = fsetxattr(dfd, name, val, len, 0);
      }
      if (rc != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s: %s", name, strerror(errno));
        die("setxattr", path, why);
      }
      close(dfd);
      free(name); free(lens); free(val);
    } else if (code == 'G') {
      char *name = field(in);
      if (!name) die("getxattr", path, "truncated op");
      char *base;
      int dfd = open_parent("getxattr", path, &base);
      char proc[64 + 4096];
      static char val[65536];
      ssize_t n;
      if (base) {
        snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, base);
        n = lgetxattr(proc, name, val, sizeof val);
      } else {
        n = fgetxattr(dfd, name, val, sizeof val);
      }
      if (n < 0 && errno != ENODATA) die("getxattr", path, strerror(errno));
      if (n < 0) fputs("-\n", stdout);
      else { printf("%zd\n", n); fwrite(val, 1, (size_t)n, stdout); }
      close(dfd);
      free(name);
    } else {
      die("read", path, "unknown op");
    }
    free(path);
  }
  return 0;
}
