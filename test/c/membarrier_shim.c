/*
 * An LD_PRELOAD shim for test/c/publish-fence.test.ts: interposes libc's syscall() to count the
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) calls of a process (the consumer's half of the publish fence,
 * docs/protocol.md), and to refuse them with EPERM as a seccomp filter would. Both the C client and the Node
 * addon make the call through syscall(), so one shim serves both languages.
 *
 *   SHMRING_TEST_MEMBARRIER_COUNT=PATH   at exit, write the number of calls to PATH
 *   SHMRING_TEST_REFUSE_MEMBARRIER=1     fail every such call with EPERM (counted all the same)
 *   SHMRING_TEST_REFUSE_WAITV=1          fail every futex_waitv with EPERM, as a seccomp filter would, and
 *                                        count those calls (written after the membarrier count)
 *
 * Every other system call goes to libc's syscall() unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

static long calls, waitv_calls;

long syscall(long number, ...) {
  static long (*real)(long, ...);
  va_list list;
  va_start(list, number);
  long a[6];
  /* Six arguments, as glibc's own syscall() reads them: the unused ones are whatever the registers held. */
  for (int i = 0; i < 6; i++) a[i] = va_arg(list, long);
  va_end(list);
  if (number == SYS_membarrier && a[0] == MEMBARRIER_CMD_GLOBAL_EXPEDITED) {
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    const char *refuse = getenv("SHMRING_TEST_REFUSE_MEMBARRIER");
    if (refuse != NULL && refuse[0] == '1') {
      errno = EPERM;
      return -1;
    }
  }
  const char *refuse_waitv = getenv("SHMRING_TEST_REFUSE_WAITV");
  if (number == 449 /* futex_waitv */ && refuse_waitv != NULL && refuse_waitv[0] == '1') {
    __atomic_add_fetch(&waitv_calls, 1, __ATOMIC_RELAXED);
    errno = EPERM;
    return -1;
  }
  if (real == NULL) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("SHMRING_TEST_MEMBARRIER_COUNT");
  if (path == NULL) return;
  FILE *file = fopen(path, "w");
  if (file == NULL) return;
  fprintf(file, "%ld %ld\n", __atomic_load_n(&calls, __ATOMIC_RELAXED), __atomic_load_n(&waitv_calls, __ATOMIC_RELAXED));
  fclose(file);
}
