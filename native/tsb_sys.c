// tsb_sys: the few syscalls Node does not expose and tsbridge needs.
//   setns(fd, nstype)  -> undefined, throws Error with .errno on failure
//   flock(fd, op)      -> 0 on success, errno on failure (EWOULDBLOCK is the caller's to handle)
//   nsType(fd)         -> CLONE_NEW* type of the namespace open at fd (ioctl NS_GET_NSTYPE)
//   nsOwner(fd)        -> inode number of the user namespace owning the namespace open at fd
//                         (ioctl NS_GET_USERNS), throws Error with .errno on failure
// It is kept tiny on purpose: no threads, no state, plain N-API so one build runs on any Node >= 18.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include <node_api.h>

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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setns", NAPI_AUTO_LENGTH, js_setns, NULL, &fn);
  napi_set_named_property(env, exports, "setns", fn);
  napi_create_function(env, "flock", NAPI_AUTO_LENGTH, js_flock, NULL, &fn);
  napi_set_named_property(env, exports, "flock", fn);
  napi_create_function(env, "nsType", NAPI_AUTO_LENGTH, js_ns_type, NULL, &fn);
  napi_set_named_property(env, exports, "nsType", fn);
  napi_create_function(env, "nsOwner", NAPI_AUTO_LENGTH, js_ns_owner, NULL, &fn);
  napi_set_named_property(env, exports, "nsOwner", fn);
  return exports;
}
