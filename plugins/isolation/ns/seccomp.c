/* seccomp.c — compiles an OCI linux.seccomp object into a classic BPF program
 * (the job libseccomp does for runc/crun), so berth-nsrun needs no library.
 *
 * Shape of the program (x86_64 only):
 *   arch != AUDIT_ARCH_X86_64            → defaultAction (32-bit/other ABIs are not allowed)
 *   nr has the x32 bit (0x40000000)      → defaultAction
 *   for each rule, for each of its names (rules with args first, then the rest, each group in
 *   config order): nr == N && every arg condition holds → the rule's action
 *   otherwise                            → defaultAction
 * Argument conditions compare the 64-bit argument as two 32-bit words (BPF is 32-bit).
 * Unknown syscall names are skipped, as runc does (profiles list syscalls of newer kernels);
 * unknown actions, ops, architectures or flags, and SCMP_ACT_NOTIFY are refused.
 */
#include "nsrun.h"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "syscalls.gen.h" /* static const struct { const char *name; int nr; } SYSCALLS[] (from build.js) */

#define MAXI 4096

typedef struct { struct sock_filter f[MAXI]; int n; } prog_t;

static void emit(prog_t *p, unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  if (p->n >= MAXI) die("linux.seccomp: the profile compiles to more than %d BPF instructions", MAXI);
  p->f[p->n].code = code;
  p->f[p->n].jt = jt;
  p->f[p->n].jf = jf;
  p->f[p->n].k = k;
  p->n++;
}

static int syscall_nr(const char *name) {
  for (size_t i = 0; i < sizeof SYSCALLS / sizeof *SYSCALLS; i++) if (!strcmp(SYSCALLS[i].name, name)) return SYSCALLS[i].nr;
  return -1;
}

static unsigned action_of(const char *a, const jv *errnoRet, unsigned defErrno, const char *where) {
  unsigned e = defErrno;
  if (errnoRet && errnoRet->t == J_NUM) e = (unsigned)errnoRet->i & SECCOMP_RET_DATA;
  if (!a) die("%s: action is missing", where);
  if (!strcmp(a, "SCMP_ACT_ALLOW")) return SECCOMP_RET_ALLOW;
  if (!strcmp(a, "SCMP_ACT_ERRNO")) return SECCOMP_RET_ERRNO | e;
  if (!strcmp(a, "SCMP_ACT_KILL") || !strcmp(a, "SCMP_ACT_KILL_THREAD")) return SECCOMP_RET_KILL_THREAD;
  if (!strcmp(a, "SCMP_ACT_KILL_PROCESS")) return SECCOMP_RET_KILL_PROCESS;
  if (!strcmp(a, "SCMP_ACT_TRAP")) return SECCOMP_RET_TRAP;
  if (!strcmp(a, "SCMP_ACT_LOG")) return SECCOMP_RET_LOG;
  if (!strcmp(a, "SCMP_ACT_TRACE")) return SECCOMP_RET_TRACE | e;
  die("%s: seccomp action %s is not supported by berth-nsrun", where, a);
}

#define LD_ABS(off) emit(p, BPF_LD | BPF_W | BPF_ABS, (unsigned)(off), 0, 0)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)

/* Jump fix-ups inside one rule block: fail → end of block (next rule). */
typedef struct { int at[64]; int n; } fix_t;
static void want_fail(fix_t *f, prog_t *p, int jt_is_fail) {
  if (f->n >= 64) die("linux.seccomp: rule too complex");
  f->at[f->n++] = (p->n - 1) * 2 + (jt_is_fail ? 1 : 0);
}

/* One condition on arg i; on mismatch jumps to fail (patched later). */
static void emit_arg(prog_t *p, fix_t *fail, const jv *a, const char *where) {
  jv *iv = jget(a, "index"), *vv = jget(a, "value"), *v2 = jget(a, "valueTwo");
  const char *op = jstr(a, "op");
  if (!iv || iv->t != J_NUM || iv->i < 0 || iv->i > 5) die("%s: args[].index must be 0..5", where);
  int i = (int)iv->i;
  uint64_t v = vv && vv->t == J_NUM ? (vv->isint ? (uint64_t)vv->i : (uint64_t)vv->n) : 0;
  uint64_t w = v2 && v2->t == J_NUM ? (v2->isint ? (uint64_t)v2->i : (uint64_t)v2->n) : 0;
  unsigned vhi = (unsigned)(v >> 32), vlo = (unsigned)v, whi = (unsigned)(w >> 32), wlo = (unsigned)w;
  if (!op) die("%s: args[].op is missing", where);
  if (!strcmp(op, "SCMP_CMP_EQ")) {
    LD_ABS(ARG_HI(i)); emit(p, BPF_JMP | BPF_JEQ | BPF_K, vhi, 0, 0); want_fail(fail, p, 0);
    LD_ABS(ARG_LO(i)); emit(p, BPF_JMP | BPF_JEQ | BPF_K, vlo, 0, 0); want_fail(fail, p, 0);
  } else if (!strcmp(op, "SCMP_CMP_MASKED_EQ")) {
    /* (arg & value) == valueTwo */
    LD_ABS(ARG_HI(i)); emit(p, BPF_ALU | BPF_AND | BPF_K, vhi, 0, 0); emit(p, BPF_JMP | BPF_JEQ | BPF_K, whi, 0, 0); want_fail(fail, p, 0);
    LD_ABS(ARG_LO(i)); emit(p, BPF_ALU | BPF_AND | BPF_K, vlo, 0, 0); emit(p, BPF_JMP | BPF_JEQ | BPF_K, wlo, 0, 0); want_fail(fail, p, 0);
  } else if (!strcmp(op, "SCMP_CMP_NE")) {
    /* match when hi != vhi, or lo != vlo */
    LD_ABS(ARG_HI(i));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, vhi, 0, 2); /* differs → skip the low check */
    LD_ABS(ARG_LO(i));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, vlo, 0, 0); want_fail(fail, p, 1);
  } else if (!strcmp(op, "SCMP_CMP_GT") || !strcmp(op, "SCMP_CMP_GE") || !strcmp(op, "SCMP_CMP_LT") || !strcmp(op, "SCMP_CMP_LE")) {
    int gt = op[9] == 'G', eq = op[10] == 'E';
    /* hi above (gt) / below (lt) → match; hi equal → decide on lo; else fail */
    LD_ABS(ARG_HI(i));
    if (gt) {
      emit(p, BPF_JMP | BPF_JGT | BPF_K, vhi, 4, 0);              /* hi > vhi → match (skip 4) */
      emit(p, BPF_JMP | BPF_JEQ | BPF_K, vhi, 0, 0); want_fail(fail, p, 0);
      LD_ABS(ARG_LO(i));
      emit(p, BPF_JMP | (eq ? BPF_JGE : BPF_JGT) | BPF_K, vlo, 1, 0);
      emit(p, BPF_JMP | BPF_JA, 0, 0, 0); want_fail(fail, p, 0);  /* JA uses k; patched below */
    } else {
      emit(p, BPF_JMP | BPF_JGE | BPF_K, vhi, 0, 5);              /* hi < vhi → match */
      emit(p, BPF_JMP | BPF_JEQ | BPF_K, vhi, 0, 0); want_fail(fail, p, 0);
      LD_ABS(ARG_LO(i));
      emit(p, BPF_JMP | (eq ? BPF_JGT : BPF_JGE) | BPF_K, vlo, 1, 0); /* lo >(=) vlo → fail */
      emit(p, BPF_JMP | BPF_JA, 1, 0, 0);                          /* match: skip the fail jump */
      emit(p, BPF_JMP | BPF_JA, 0, 0, 0); want_fail(fail, p, 0);
    }
  } else {
    die("%s: seccomp op %s is not supported by berth-nsrun", where, op);
  }
}

static void emit_rule(prog_t *p, int nr, const jv *args, unsigned action, const char *where) {
  fix_t fail = {{0}, 0};
  int start = p->n;
  LD_ABS(offsetof(struct seccomp_data, nr));
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 0);
  want_fail(&fail, p, 0);
  if (args && args->t == J_ARR) for (jv *a = args->child; a; a = a->next) emit_arg(p, &fail, a, where);
  emit(p, BPF_RET | BPF_K, action, 0, 0);
  int end = p->n;
  for (int k = 0; k < fail.n; k++) {
    int idx = fail.at[k] / 2, jt = fail.at[k] % 2;
    int off = end - (idx + 1);
    if (off > 255) die("%s: rule too long for BPF", where);
    struct sock_filter *f = &p->f[idx];
    if (BPF_OP(f->code) == BPF_JA && BPF_CLASS(f->code) == BPF_JMP) f->k = (unsigned)off;
    else if (jt) f->jt = (unsigned char)off;
    else f->jf = (unsigned char)off;
  }
  (void)start;
}

void seccomp_compile(const jv *sc, void **progp, unsigned *flagsp) {
  static const char *const known[] = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls", NULL};
  for (jv *e = sc->child; e; e = e->next) {
    int ok = 0;
    for (int i = 0; known[i]; i++) if (!strcmp(known[i], e->key)) ok = 1;
    if (!ok && !jempty(e)) die("linux.seccomp.%s is not supported by berth-nsrun", e->key);
  }
#if !defined(__x86_64__)
  die("linux.seccomp: berth-nsrun compiles seccomp filters for x86_64 only");
#endif
  jv *archs = jget(sc, "architectures");
  if (archs && archs->t == J_ARR) {
    for (jv *a = archs->child; a; a = a->next) {
      if (a->t != J_STR) die("linux.seccomp.architectures must be strings");
      if (strcmp(a->s, "SCMP_ARCH_X86_64") && strcmp(a->s, "SCMP_ARCH_X86") && strcmp(a->s, "SCMP_ARCH_X32"))
        die("linux.seccomp: architecture %s is not supported on x86_64", a->s);
    }
  }
  unsigned flags = 0;
  jv *fl = jget(sc, "flags");
  if (fl && fl->t == J_ARR) {
    for (jv *f = fl->child; f; f = f->next) {
      if (f->t != J_STR) die("linux.seccomp.flags must be strings");
      if (!strcmp(f->s, "SECCOMP_FILTER_FLAG_TSYNC")) flags |= SECCOMP_FILTER_FLAG_TSYNC;
      else if (!strcmp(f->s, "SECCOMP_FILTER_FLAG_LOG")) flags |= SECCOMP_FILTER_FLAG_LOG;
      else if (!strcmp(f->s, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")) flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
      else die("linux.seccomp: flag %s is not supported by berth-nsrun", f->s);
    }
  }
  jv *der = jget(sc, "defaultErrnoRet");
  unsigned defErrno = der && der->t == J_NUM ? (unsigned)der->i : EPERM;
  unsigned def = action_of(jstr(sc, "defaultAction"), der, EPERM, "linux.seccomp.defaultAction");
  prog_t *p = calloc(1, sizeof *p);
  LD_ABS(offsetof(struct seccomp_data, arch));
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  emit(p, BPF_RET | BPF_K, def, 0, 0);
  LD_ABS(offsetof(struct seccomp_data, nr));
  emit(p, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1); /* x32 ABI */
  emit(p, BPF_RET | BPF_K, def, 0, 0);
  jv *rules = jget(sc, "syscalls");
  for (int pass = 0; pass < 2; pass++) {
    int idx = 0;
    for (jv *r = rules && rules->t == J_ARR ? rules->child : NULL; r; r = r->next, idx++) {
      char where[64];
      snprintf(where, sizeof where, "linux.seccomp.syscalls[%d]", idx);
      static const char *const rk[] = {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes", NULL};
      for (jv *e = r->child; e; e = e->next) {
        int ok = 0;
        for (int i = 0; rk[i]; i++) if (!strcmp(rk[i], e->key)) ok = 1;
        if (!ok && !jempty(e)) die("%s.%s is not supported by berth-nsrun", where, e->key);
      }
      jv *args = jget(r, "args");
      int has_args = args && args->t == J_ARR && args->child;
      if ((pass == 0) != has_args) continue;
      unsigned act = action_of(jstr(r, "action"), jget(r, "errnoRet"), defErrno, where);
      if (act == def && !has_args) continue; /* same as falling through */
      jv *names = jget(r, "names");
      const char *single = jstr(r, "name");
      if (single) {
        int nr = syscall_nr(single);
        if (nr >= 0) emit_rule(p, nr, args, act, where);
      }
      for (jv *n = names && names->t == J_ARR ? names->child : NULL; n; n = n->next) {
        if (n->t != J_STR) die("%s.names must be strings", where);
        int nr = syscall_nr(n->s);
        if (nr >= 0) emit_rule(p, nr, args, act, where);
      }
    }
  }
  emit(p, BPF_RET | BPF_K, def, 0, 0);
  struct sock_fprog *fp = calloc(1, sizeof *fp);
  fp->len = (unsigned short)p->n;
  fp->filter = p->f;
  *progp = fp;
  *flagsp = flags;
}

void seccomp_apply(void *prog, unsigned flags) {
  if (!prog) return;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog)) die("load seccomp filter: %s", strerror(errno));
}
