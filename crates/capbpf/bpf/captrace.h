/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * The few kernel types captrace's BPF program reads, declared with preserve_access_index so that the
 * loader relocates every field against the running kernel's BTF (CO-RE): no vmlinux.h is needed, and the
 * object built once runs on every kernel that has these fields.
 */
#ifndef CAPTRACE_H
#define CAPTRACE_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef int pid_t;
typedef _Bool bool;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* The values of include/uapi/linux/bpf.h this program uses (UAPI: they never change). */
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};
enum {
	BPF_F_NO_PREALLOC = 1,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct user_namespace {
	struct user_namespace *parent;
	int level;
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct cred {
	struct user_namespace *user_ns;
} __attribute__((preserve_access_index));

struct filename {
	const char *name;
} __attribute__((preserve_access_index));

/* fs/namei.c's path walk state: the name being looked up (the execve's file, during its lookup). */
struct nameidata {
	struct filename *name;
} __attribute__((preserve_access_index));

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct nameidata *nameidata;
} __attribute__((preserve_access_index));

struct linux_binprm {
	unsigned int secureexec : 1;
	const char *filename;
	const char *interp;
} __attribute__((preserve_access_index));

#define PATH_LEN 256

/* An exec in scope, by the process and the name it took (the rows' pid and comm): capbpf's ExecKey. */
struct exec_key {
	__u32 tgid;
	char comm[16];
};

/* The file it exec'd as given to execve, and the file the kernel ran: its interpreter for a #! script. */
struct exec_file {
	char path[PATH_LEN];
	char interp[PATH_LEN];
};

/* The map key and value: the same layout as capbpf's CheckKey and CheckValue (#[repr(C)]). */
struct check_key {
	__u64 caller;     /* the first return address above the capability plumbing; 0: no stack taken */
	__u32 cap;
	__s32 ret;        /* cap_capable's result: 0 granted, -EPERM refused */
	__u32 tgid;
	__u32 ns_inum;    /* target user namespace */
	__u32 ns_level;
	__u8 ns_place;    /* NS_BASE, NS_CREATED, NS_OUTSIDE */
	__u8 flags;       /* CHECK_* */
	__u16 exec_attempt; /* CHECK_IN_EXEC: the process's exec attempt it was made in (exec_outcomes) */
	char comm[16];
	__u32 lookup_base; /* CHECK_PATH_SEARCH: hashes of the last component and of the whole name looked up */
	__u32 lookup_full;
};

/* One exec attempt of a process: its checks made inside the exec's file lookups carry the number, and
 * exec_outcomes says whether the execve failed or succeeded. */
struct attempt_key {
	__u32 tgid;
	__u32 attempt;
};

/* A thread's exec attempt whose result is not known yet, and a hash of the file name it looks up. */
struct pending_attempt {
	struct attempt_key attempt;
	__u64 name_hash;
};

#define EXEC_FAILED 1
#define EXEC_SUCCEEDED 2

/* The key of a check counted after its capability's verdict was settled: capbpf's SettledKey. The command
 * name is kept, so that a check made before an exec is not listed under the program exec'd after it. */
struct settled_key {
	__u32 cap;
	__s32 ret;
	__u32 tgid;
	__u32 ns_inum;
	__u32 ns_level;
	__u8 ns_place;
	__u8 pad[3];
	char comm[16];
};

struct check_value {
	__u64 count;
	__u64 first_ns;   /* bpf_ktime_get_ns of the first check with this key */
};

#define NS_BASE 0
#define NS_CREATED 1
#define NS_OUTSIDE 2

#define CHECK_CLASSIFIED 1 /* a stack was taken (or fexit gave opts): NOAUDIT and INSETID are known */
#define CHECK_NOAUDIT 2
#define CHECK_INSETID 4
#define CHECK_IN_EXEC 8 /* made by the lookup of an execve's file (do_open_execat from the execve) */
#define CHECK_PATH_SEARCH 16 /* a directory search in the walk of a stat or access (a shell's PATH search) */

/* What a range of kernel text means when it is on the stack above cap_capable. */
#define RANGE_PLUMBING 1 /* part of the capability machinery, not the caller */
#define RANGE_NOAUDIT 2
#define RANGE_INSETID 4
#define RANGE_TEXT 8     /* kernel or module text: where a caller can be */
#define RANGE_LOOKUP 16  /* a permission check of a path lookup: the walk goes on to see whose lookup */
#define RANGE_EXEC 32    /* an execve's file lookup (do_open_execat) */
#define RANGE_INTERP 64  /* an interpreter's lookup, inside an exec that is going ahead (open_exec) */
#define RANGE_WALK 128   /* the walk through a name's directories (link_path_walk): a directory search */
#define RANGE_STAT 256   /* a stat or access of a name (vfs_statx, do_faccessat): nothing is opened */

/* The totals array: one counter per capability and outcome, TOTAL_* added to cap * TOTAL_PER_CAP. */
#define TOTAL_DENIED 2  /* refused (else granted) */
#define TOTAL_CREATED 1 /* against a namespace the program created (else the base or outside) */
#define TOTAL_PER_CAP 4

#define MAX_RANGES 96
#define MAX_FRAMES 24
#define MAX_NS_DEPTH 33

/* Indices of the state array. */
#define STATE_ARMED 0       /* COMMAND has execed: counting has begun */
#define STATE_DROPPED 1     /* checks the full map could not take */
#define STATE_ESCALATIONS 2 /* execs in scope that gained privilege (bprm->secureexec) */
#define STATE_ARMED_AT 3    /* bpf_ktime_get_ns of COMMAND's exec: the zero of the report's times */
#define STATE_LEN 4

#define MODE_CGROUP 0
#define MODE_PIDS 1


#endif
