// tsb_sys: the few syscalls the JS runtime does not expose and tsbridge needs.
//   setns(fd, nstype)  -> undefined, throws Error with .errno on failure
//   flock(fd, op)      -> 0 on success, errno on failure (EWOULDBLOCK is the caller's to handle)
//   flockWait(fd, ms)  -> flock(LOCK_EX) blocking at most ms: 0, EWOULDBLOCK on timeout, else errno
//   nsType(fd)         -> CLONE_NEW* type of the namespace open at fd (ioctl NS_GET_NSTYPE)
//   nsOwner(fd)        -> inode number of the user namespace owning the namespace open at fd
//                         (ioctl NS_GET_USERNS), throws Error with .errno on failure
//   nlOpen(strict)     -> fd of a NETLINK_ROUTE socket (CLOEXEC, bound, in the thread's netns);
//                         strict = true sets NETLINK_GET_STRICT_CHK (throws where the kernel lacks it)
//   nlSend(fd, buf)    -> undefined; the whole message or an error
//   nlRecv(fd, ms)     -> Buffer with one datagram; throws ETIMEDOUT after ms without one
//   close(fd)          -> undefined
// It is kept tiny on purpose: no threads, no state, no event loop (blocking calls with a bound),
// plain N-API so one build runs under any Node >= 18 and under Bun. Framing is done in TS.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <node_api.h>

// The kernel sizes a dump datagram to at most 32 KiB (or the caller's buffer); 64 KiB leaves room.
#define NL_RECV_MAX 65536

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[128];
  napi_value code, message, error, errnum;
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static int get_int_args(napi_env env, napi_callback_info info, int32_t *a, int32_t *b) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return -1;
  if (napi_get_value_int32(env, argv[0], a) != napi_ok) return -1;
  if (napi_get_value_int32(env, argv[1], b) != napi_ok) return -1;
  return 0;
}

static napi_value js_setns(napi_env env, napi_callback_info info) {
  int32_t fd, nstype;
  if (get_int_args(env, info, &fd, &nstype) != 0) return throw_errno(env, "setns", EINVAL);
  if (setns(fd, nstype) != 0) return throw_errno(env, "setns", errno);
  return NULL;
}

static napi_value js_flock(napi_env env, napi_callback_info info) {
  int32_t fd, op;
  napi_value out;
  if (get_int_args(env, info, &fd, &op) != 0) return throw_errno(env, "flock", EINVAL);
  int rc;
  do { rc = flock(fd, op); } while (rc != 0 && errno == EINTR);
  napi_create_int32(env, rc == 0 ? 0 : errno, &out);
  return out;
}

// A blocking flock wakes the moment the holder lets go (the kernel queues waiters); polling with
// LOCK_NB sleeps through releases and, with many contenders, leaves the lock idle between holders.
// The bound comes from a timer that signals this thread only (SIGEV_THREAD_ID) with a handler
// installed without SA_RESTART, so flock returns EINTR; the timer re-fires every TICK_NS in case
// the first signal landed before flock started. The previous handler and mask are put back, and a
// signal still pending is drained first, so nothing is left behind for the runtime.
#define LOCK_SIGNAL (SIGRTMAX - 3)
#define TICK_NS 10000000L
static void on_lock_timer(int sig) { (void)sig; }

static int flock_wait(int fd, int ms) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
  if (errno != EWOULDBLOCK) return errno;
  if (ms <= 0) return EWOULDBLOCK;
  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_lock_timer; // no SA_RESTART: the signal must interrupt flock
  sigemptyset(&sa.sa_mask);
  if (sigaction(LOCK_SIGNAL, &sa, &old_sa) != 0) return errno;
  sigset_t set, old_set;
  sigemptyset(&set);
  sigaddset(&set, LOCK_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &set, &old_set);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = LOCK_SIGNAL;
  sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  timer_t timer;
  int result;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
    result = errno;
  } else {
    struct timespec deadline, now;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };
    timer_settime(timer, 0, &its, NULL);
    for (;;) {
      if (flock(fd, LOCK_EX) == 0) { result = 0; break; }
      if (errno != EINTR) { result = errno; break; }
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
        result = EWOULDBLOCK;
        break;
      }
    }
    timer_delete(timer);
  }
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  struct timespec zero = { 0, 0 };
  while (sigtimedwait(&set, NULL, &zero) == LOCK_SIGNAL) { /* drain a late tick */ }
  pthread_sigmask(SIG_SETMASK, &old_set, NULL);
  sigaction(LOCK_SIGNAL, &old_sa, NULL);
  return result;
}

static napi_value js_flock_wait(napi_env env, napi_callback_info info) {
  int32_t fd, ms;
  napi_value out;
  if (get_int_args(env, info, &fd, &ms) != 0) return throw_errno(env, "flockWait", EINVAL);
  napi_create_int32(env, flock_wait(fd, ms), &out);
  return out;
}

static int get_int_arg(napi_env env, napi_callback_info info, int32_t *a) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) return -1;
  return napi_get_value_int32(env, argv[0], a) == napi_ok ? 0 : -1;
}

static napi_value js_ns_type(napi_env env, napi_callback_info info) {
  napi_value out;
  int32_t fd;
  if (get_int_arg(env, info, &fd) != 0) return throw_errno(env, "nsType", EINVAL);
  int t = ioctl(fd, NS_GET_NSTYPE);
  if (t < 0) return throw_errno(env, "nsType", errno);
  napi_create_int32(env, t, &out);
  return out;
}

static napi_value js_ns_owner(napi_env env, napi_callback_info info) {
  napi_value out;
  int32_t fd;
  if (get_int_arg(env, info, &fd) != 0) return throw_errno(env, "nsOwner", EINVAL);
  int ufd = ioctl(fd, NS_GET_USERNS);
  if (ufd < 0) return throw_errno(env, "nsOwner", errno);
  struct stat st;
  int rc = fstat(ufd, &st);
  int err = errno;
  close(ufd);
  if (rc != 0) return throw_errno(env, "nsOwner", err);
  napi_create_double(env, (double)st.st_ino, &out);
  return out;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

static napi_value js_nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  bool strict = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1)
    napi_get_value_bool(env, argv[0], &strict);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, "socket", errno);
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  int one = 1;
  // a short error ACK (no copy of our request), as we never read it
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  // strict checking: the kernel honours IFA_TARGET_NETNSID in address dumps only then
  if (strict && setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt NETLINK_GET_STRICT_CHK", err);
  }
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  void *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || get_int(env, argv[0], &fd) != 0 ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return throw_errno(env, "send", EINVAL);
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t n;
  do { n = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel); } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "send", errno);
  if ((size_t)n != len) return throw_errno(env, "send", EMSGSIZE);
  return NULL;
}

static napi_value js_nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd, ms;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || get_int(env, argv[0], &fd) != 0 ||
      get_int(env, argv[1], &ms) != 0)
    return throw_errno(env, "recv", EINVAL);
  char *buf = malloc(NL_RECV_MAX);
  if (!buf) return throw_errno(env, "recv", ENOMEM);
  struct timespec now, end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += ms / 1000;
  end.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (end.tv_nsec >= 1000000000L) { end.tv_sec++; end.tv_nsec -= 1000000000L; }
  ssize_t n;
  for (;;) {
    // poll bounds the wait: a reply that never comes is ETIMEDOUT, never a hang
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = (end.tv_sec - now.tv_sec) * 1000L + (end.tv_nsec - now.tv_nsec) / 1000000L;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc = poll(&p, 1, left > 0 ? (int)left : 0);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      int err = rc < 0 ? errno : ETIMEDOUT;
      free(buf);
      return throw_errno(env, "recv", err);
    }
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof from;
    // MSG_TRUNC: the real length, so a datagram larger than our buffer is an error, not a cut message
    n = recvfrom(fd, buf, NL_RECV_MAX, MSG_TRUNC | MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 || n > NL_RECV_MAX) {
      int err = n < 0 ? errno : EMSGSIZE;
      free(buf);
      return throw_errno(env, "recv", err);
    }
    // only the kernel (port 0) answers us; another process may send to our port: drop it
    if (fromlen >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid == 0) break;
  }
  napi_status st = napi_create_buffer_copy(env, (size_t)n, buf, NULL, &out);
  free(buf);
  if (st != napi_ok) return throw_errno(env, "recv", ENOMEM);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || get_int(env, argv[0], &fd) != 0)
    return throw_errno(env, "close", EINVAL);
  if (close(fd) != 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

#define EXPORT(name, fnptr) \
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fnptr, NULL, &fn); \
  napi_set_named_property(env, exports, name, fn)

NAPI_MODULE_INIT() {
  napi_value fn;
  EXPORT("setns", js_setns);
  EXPORT("flock", js_flock);
  EXPORT("flockWait", js_flock_wait);
  EXPORT("nsType", js_ns_type);
  EXPORT("nsOwner", js_ns_owner);
  EXPORT("nlOpen", js_nl_open);
  EXPORT("nlSend", js_nl_send);
  EXPORT("nlRecv", js_nl_recv);
  EXPORT("close", js_close);
  return exports;
}
