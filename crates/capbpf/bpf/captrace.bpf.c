// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * captrace's kernel half: counts every capability check made in scope (one cgroup subtree, or one pid
 * tree), keyed by what the report needs, in a hash map that userspace reads when the trace ends. Nothing
 * is sent per event, so nothing is lost.
 *
 * cap_capable is where every check ends (security_capable, the memory-accounting check and cap_capset all
 * arrive there), so both attach points hook it: fexit where the kernel allows it (opts exact), else the
 * cap_capable tracepoint (Linux 6.14+) with the NOAUDIT and INSETID options read off the kernel stack.
 * The stack is the expensive part: it is taken only while a capability's verdict can still change.
 */
#include "captrace.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before the program is loaded. */
const volatile __u32 mode = MODE_CGROUP;
const volatile __u64 target_cgroup = 0;
const volatile __u32 target_level = 0;
const volatile __u32 gate_on_exec = 0;
const volatile __u32 base_inum = 0;
const volatile __u32 base_level = 0;
/* The plumbing ranges live in .data, not .rodata: the verifier then treats them as unknown values and
 * checks the search loop once, instead of walking it with every constant (which exceeds its limit). */
__u32 nranges SEC(".data") = 0;
__u64 range_start[MAX_RANGES] SEC(".data") = {};
__u64 range_end[MAX_RANGES] SEC(".data") = {};
__u32 range_flags[MAX_RANGES] SEC(".data") = {};

/* CAP_OPT_* of include/linux/security.h, for fexit. */
#define CAP_OPT_NOAUDIT 2
#define CAP_OPT_INSETID 4

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct check_key);
	__type(value, struct check_value);
} checks SEC(".maps");

/* Checks that did not fit in `checks` or `settled_checks`, counted without their process. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct check_key);
	__type(value, struct check_value);
} merged SEC(".maps");

/* Capabilities already granted on an audited check outside a created namespace: `needed` for good. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} settled SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STATE_LEN);
	__type(key, __u32);
	__type(value, __u64);
} state SEC(".maps");

/* MODE_PIDS: the thread groups in scope. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

/* Execs in scope that gained privilege: tgid -> file name. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, char[PATH_LEN]);
} escalations SEC(".maps");

/* Checks of a capability whose verdict is settled: no stack, so the cost stays close to that of a bare
 * counter. Per CPU, so no atomic add; userspace sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct settled_key);
	__type(value, __u64);
} settled_checks SEC(".maps");

/* Every exec in scope: which file each (process, name) ran, so that advice names the file that asked. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct exec_key);
	__type(value, struct exec_file);
} execs SEC(".maps");

/* Scratch space for an exec_file: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_file);
} exec_scratch SEC(".maps");

/* Every check in scope, by capability and outcome: an array, so it can never fill, and the totals (and a
 * verdict's `needed`, with `settled`) never depend on what the hash maps had room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64 * TOTAL_PER_CAP);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

/* Exec attempts: the number of each process's current one, the attempt a thread's execve is in while a
 * check inside its file lookup waits for the execve's result, and each attempt's result. A lookup refused
 * (or granted) inside an execve that failed, by a process that then exec'd another file, decided nothing:
 * execvp walking PATH goes on to the next directory. No hook sees an execve fail (a syscall exit hook would
 * slow every syscall on the machine): an attempt has failed when the same thread's next exec, or next
 * checked lookup, is of another file name. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} exec_attempts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct pending_attempt);
} exec_pending SEC(".maps");

/* Scratch space for a file name being hashed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[PATH_LEN]);
} name_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct attempt_key);
	__type(value, __u8);
} exec_outcomes SEC(".maps");

/* Scratch space for a stack: too big for the 512-byte BPF stack with the key beside it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[MAX_FRAMES]);
} frames SEC(".maps");

static __always_inline void state_add(__u32 index, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&state, &index);
	if (value)
		__sync_fetch_and_add(value, n);
}

static __always_inline bool armed(void)
{
	__u32 index = STATE_ARMED;
	__u64 *value;
	if (!gate_on_exec)
		return 1;
	value = bpf_map_lookup_elem(&state, &index);
	return value && *value;
}

static __always_inline bool in_scope(void)
{
	if (mode == MODE_PIDS) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		return bpf_map_lookup_elem(&pids, &tgid) != 0;
	}
	return bpf_get_current_ancestor_cgroup_id(target_level) == target_cgroup;
}

/* Where the target namespace sits, seen from the base: itself, below it (created by the program), or
 * elsewhere. Inode numbers and levels, never pointers. */
static __always_inline __u8 ns_place(struct user_namespace *ns)
{
	int level = ns->level;
	if (level < (int)base_level)
		return NS_OUTSIDE;
	for (int i = 0; i < MAX_NS_DEPTH && ns; i++) {
		if (level == (int)base_level)
			return ns->ns.inum == base_inum ? (i == 0 ? NS_BASE : NS_CREATED) : NS_OUTSIDE;
		ns = ns->parent;
		level--;
	}
	return NS_OUTSIDE;
}

struct range_search {
	__u64 addr;
	__u32 flags;
};

/* One range of the search (a bpf_loop callback: the verifier checks it once, not once per range). */
static long range_step(__u32 j, struct range_search *search)
{
	if (j >= MAX_RANGES || j >= nranges)
		return 1;
	if (search->addr >= range_start[j] && search->addr < range_end[j])
		search->flags |= range_flags[j];
	return 0;
}

/* Every flag of every range holding the address: a frame can be both kernel text and plumbing. */
static __always_inline __u32 range_of(__u64 addr)
{
	struct range_search search = { .addr = addr };

	bpf_loop(MAX_RANGES, range_step, &search, 0);
	return search.flags;
}

struct walk {
	long size;              /* bytes of the stack bpf_get_stack filled */
	struct check_key *key;
	bool lookup;            /* the caller checks a path lookup's permission: find whose lookup */
	bool exec;              /* do_open_execat seen: is it the execve's own lookup or an interpreter's? */
	bool dir_search;        /* link_path_walk seen: the check is a directory search of the walk */
	bool stat;              /* vfs_statx or do_faccessat seen above that walk */
};

/* One frame of the walk (a bpf_loop callback, so the verifier checks it once): plumbing is skipped and says
 * NOAUDIT or INSETID; the first other frame is the caller, and ends the walk, unless the caller is a path
 * lookup's permission check: then the walk goes on to see whether an execve's file lookup made it. */
static long walk_frame(__u32 i, struct walk *walk)
{
	__u32 zero = 0;
	__u64 *stack = bpf_map_lookup_elem(&frames, &zero);
	__u32 flags;
	if (!stack || i >= MAX_FRAMES || (long)(i * sizeof(__u64)) >= walk->size)
		return 1;
	flags = range_of(stack[i]);
	if (walk->exec) {
		/* An interpreter's lookup belongs to an exec that is going ahead: it counts as it is. */
		if (!(flags & RANGE_INTERP))
			walk->key->flags |= CHECK_IN_EXEC;
		return 1;
	}
	if (walk->lookup) {
		if (flags & RANGE_EXEC)
			walk->exec = 1;
		if (flags & RANGE_WALK)
			walk->dir_search = 1;
		if ((flags & RANGE_STAT) && walk->dir_search)
			walk->stat = 1;
		return 0;
	}
	if (flags & RANGE_NOAUDIT)
		walk->key->flags |= CHECK_NOAUDIT;
	if (flags & RANGE_INSETID)
		walk->key->flags |= CHECK_INSETID;
	/* Outside kernel and module text is BPF: this program, or the fexit trampoline. */
	if ((flags & RANGE_PLUMBING) || !(flags & RANGE_TEXT))
		return 0;
	walk->key->caller = stack[i];
	if (flags & RANGE_LOOKUP) {
		walk->lookup = 1;
		return 0;
	}
	return 1;
}

/* Reads NOAUDIT, INSETID and the caller off the kernel stack above cap_capable. */
static __always_inline void classify(void *ctx, struct check_key *key)
{
	__u32 zero = 0;
	__u64 *stack = bpf_map_lookup_elem(&frames, &zero);
	struct walk walk = { .key = key };
	if (!stack)
		return;
	walk.size = bpf_get_stack(ctx, stack, MAX_FRAMES * sizeof(__u64), 0);
	if (walk.size <= 0)
		return;
	key->flags |= CHECK_CLASSIFIED;
	bpf_loop(MAX_FRAMES, walk_frame, &walk, 0);
	if (walk.stat && !walk.exec)
		key->flags |= CHECK_PATH_SEARCH;
}

/* Adds one to `key` in `map`, making the entry when it is new; false when the map is full. */
static __always_inline bool add_check(void *map, struct check_key *key)
{
	struct check_value *value = bpf_map_lookup_elem(map, key);
	if (value) {
		__sync_fetch_and_add(&value->count, 1);
		return 1;
	}
	struct check_value fresh = { .count = 1, .first_ns = bpf_ktime_get_ns() };
	if (bpf_map_update_elem(map, key, &fresh, BPF_NOEXIST) == 0)
		return 1;
	value = bpf_map_lookup_elem(map, key);
	if (!value)
		return 0;
	__sync_fetch_and_add(&value->count, 1);
	return 1;
}

/* Counts a check by process; when the map is full (a tree of tens of thousands of processes), without
 * the process, in a map whose keys (capability, result, namespace, caller, flags) are few, so that a
 * capability's verdict never depends on which processes came first. */
static __always_inline void count(struct check_key *key)
{
	if (add_check(&checks, key))
		return;
	key->tgid = 0;
	__builtin_memset(key->comm, 0, sizeof(key->comm));
	key->lookup_base = 0;
	key->lookup_full = 0;
	if (!add_check(&merged, key))
		state_add(STATE_DROPPED, 1);
}

static __always_inline void total_add(__u32 cap, int ret, __u8 place)
{
	__u32 index = cap * TOTAL_PER_CAP + (ret ? TOTAL_DENIED : 0) + (place == NS_CREATED ? TOTAL_CREATED : 0);
	__u64 *value = bpf_map_lookup_elem(&totals, &index);
	if (value)
		*value += 1;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

struct hash_state {
	const char *name;
	__u64 hash;
	__u64 base;   /* the hash of what follows the last '/' */
};

static long hash_step(__u32 i, struct hash_state *state)
{
	__u8 c;
	if (i >= PATH_LEN || !state->name[i])
		return 1;
	c = state->name[i];
	state->hash = (state->hash ^ c) * 0x100000001b3ULL;
	state->base = c == '/' ? FNV_OFFSET : (state->base ^ c) * 0x100000001b3ULL;
	return 0;
}

/* FNV-1a of a kernel string (at most PATH_LEN bytes), and of its last component: which file an exec
 * attempt, or a stat, looks up. Both are 0 when the string cannot be read. */
static __always_inline void name_hashes(const char *kernel_name, struct hash_state *state)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&name_scratch, &zero);

	state->hash = 0;
	state->base = 0;
	if (!buf || bpf_probe_read_kernel_str(buf, PATH_LEN, kernel_name) < 0)
		return;
	state->name = buf;
	state->hash = FNV_OFFSET;
	state->base = FNV_OFFSET;
	bpf_loop(PATH_LEN, hash_step, state, 0);
}

static __always_inline __u64 name_hash(const char *kernel_name)
{
	struct hash_state state = {};
	name_hashes(kernel_name, &state);
	return state.hash;
}

/* Both 64-bit hashes folded to the key's 32 bits. */
static __always_inline __u32 fold(__u64 hash)
{
	return (__u32)(hash ^ (hash >> 32));
}

/* A directory search in a stat's or access's walk: the name looked up, by its hashes. Userspace calls
 * it a search the program went past when another file of that last name was exec'd (a shell's PATH
 * search stats each directory's NAME, then execs the one it found). */
static __always_inline void note_path_search(struct check_key *key)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct hash_state state = {};

	name_hashes(BPF_CORE_READ(task, nameidata, name, name), &state);
	key->lookup_base = fold(state.base);
	key->lookup_full = fold(state.hash);
}

static __always_inline void set_outcome(struct attempt_key *attempt, __u8 outcome)
{
	__u32 next = attempt->attempt + 1;
	bpf_map_update_elem(&exec_outcomes, attempt, &outcome, BPF_ANY);
	bpf_map_update_elem(&exec_attempts, &attempt->tgid, &next, BPF_ANY);
}

/* A check inside the lookup of an execve's file: the attempt it belongs to, by the name looked up. A
 * pending attempt of the same thread with another name has failed (its execve returned, and this is a new
 * one). */
static __always_inline void note_exec_attempt(struct check_key *key)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct pending_attempt *pending = bpf_map_lookup_elem(&exec_pending, &tid);
	struct pending_attempt fresh = { .attempt = { .tgid = tgid } };
	__u32 *current;

	fresh.name_hash = name_hash(BPF_CORE_READ(task, nameidata, name, name));
	if (pending && pending->name_hash == fresh.name_hash) {
		key->exec_attempt = (__u16)pending->attempt.attempt;
		return;
	}
	if (pending)
		set_outcome(&pending->attempt, EXEC_FAILED);
	current = bpf_map_lookup_elem(&exec_attempts, &tgid);
	fresh.attempt.attempt = current ? *current : 0;
	key->exec_attempt = (__u16)fresh.attempt.attempt;
	bpf_map_update_elem(&exec_pending, &tid, &fresh, BPF_ANY);
}

/* An exec succeeded. The thread's pending attempt is this exec when it looked up the same name, else it
 * failed before this one; and when the process has made checks inside an exec's lookup before, this
 * exec's success is recorded too, so that those failed attempts count as recovered from. */
static __always_inline void exec_succeeded(__u32 old_tid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pending_attempt *pending = bpf_map_lookup_elem(&exec_pending, &old_tid);
	struct attempt_key attempt = { .tgid = tgid };
	__u32 *current;

	if (pending) {
		struct pending_attempt last = *pending;
		bpf_map_delete_elem(&exec_pending, &old_tid);
		if (last.name_hash == name_hash(BPF_CORE_READ(bprm, filename))) {
			set_outcome(&last.attempt, EXEC_SUCCEEDED);
			return;
		}
		set_outcome(&last.attempt, EXEC_FAILED);
	}
	current = bpf_map_lookup_elem(&exec_attempts, &tgid);
	if (!current)
		return;
	attempt.attempt = *current;
	set_outcome(&attempt, EXEC_SUCCEEDED);
}

/* A check inside an execve's lookup, or a stat's directory search, never settles its capability: whether
 * it mattered is known only when the execve returns, or when userspace sees what was exec'd. */
static __always_inline void settle(struct check_key *key)
{
	if (key->ret == 0 && (key->flags & CHECK_CLASSIFIED) && !(key->flags & CHECK_NOAUDIT) &&
	    !(key->flags & (CHECK_IN_EXEC | CHECK_PATH_SEARCH)) && key->ns_place != NS_CREATED) {
		__u32 one = 1, cap = key->cap;
		bpf_map_update_elem(&settled, &cap, &one, BPF_ANY);
	}
}

/* A check of a settled capability: counted by who, where and with what result, nothing more. */
static __always_inline void count_settled(int cap, int ret, struct user_namespace *target_ns, __u8 place)
{
	struct settled_key key = {
		.cap = cap,
		.ret = ret,
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.ns_inum = target_ns->ns.inum,
		.ns_level = target_ns->level,
		.ns_place = place,
	};
	__u64 one = 1, *value;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	value = bpf_map_lookup_elem(&settled_checks, &key);
	if (value) {
		*value += 1;
		return;
	}
	if (bpf_map_update_elem(&settled_checks, &key, &one, BPF_NOEXIST) == 0)
		return;
	value = bpf_map_lookup_elem(&settled_checks, &key);
	if (value) {
		*value += 1;
		return;
	}
	/* Full: counted without the process, unclassified, as count() does. */
	struct check_key merged_key = {
		.cap = cap,
		.ret = ret,
		.ns_inum = key.ns_inum,
		.ns_level = key.ns_level,
		.ns_place = key.ns_place,
	};
	if (!add_check(&merged, &merged_key))
		state_add(STATE_DROPPED, 1);
}

static __always_inline int record(void *ctx, struct user_namespace *target_ns, int cap, int ret,
				  bool opts_known, unsigned int opts)
{
	struct check_key key = {};
	__u32 cap_index = cap;
	__u32 *done;
	__u8 place;

	if (!in_scope() || !armed() || cap < 0 || cap > 63)
		return 0;
	place = ns_place(target_ns);
	total_add(cap_index, ret, place);
	done = bpf_map_lookup_elem(&settled, &cap_index);
	if (done && *done) {
		count_settled(cap, ret, target_ns, place);
		return 0;
	}
	key.cap = cap;
	key.ret = ret;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.ns_inum = target_ns->ns.inum;
	key.ns_level = target_ns->level;
	key.ns_place = place;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	classify(ctx, &key);
	if (opts_known) {
		key.flags |= CHECK_CLASSIFIED;
		key.flags &= ~(CHECK_NOAUDIT | CHECK_INSETID);
		if (opts & CAP_OPT_NOAUDIT)
			key.flags |= CHECK_NOAUDIT;
		if (opts & CAP_OPT_INSETID)
			key.flags |= CHECK_INSETID;
	}
	if (key.flags & CHECK_IN_EXEC)
		note_exec_attempt(&key);
	if (key.flags & CHECK_PATH_SEARCH)
		note_path_search(&key);
	settle(&key);
	count(&key);
	return 0;
}

SEC("tp_btf/cap_capable")
int BPF_PROG(captrace_tp, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return record(ctx, target_ns, cap, ret, 0, 0);
}

SEC("fexit/cap_capable")
int BPF_PROG(captrace_fexit, const struct cred *cred, struct user_namespace *target_ns, int cap,
	     unsigned int opts, int ret)
{
	return record(ctx, target_ns, cap, ret, 1, opts);
}

/* Notes the file an exec ran, under the process and the name it now has (set before this tracepoint). */
static __always_inline void record_exec(struct linux_binprm *bprm)
{
	struct exec_key key = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	__u32 zero = 0;
	struct exec_file *file = bpf_map_lookup_elem(&exec_scratch, &zero);

	if (!file)
		return;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	bpf_probe_read_kernel_str(file->path, sizeof(file->path), bprm->filename);
	bpf_probe_read_kernel_str(file->interp, sizeof(file->interp), bprm->interp);
	bpf_map_update_elem(&execs, &key, file, BPF_ANY);
}

/* The first exec in scope arms the count: what the launcher did before (dropping to the user, joining the
 * cgroup) is not the program's. Execs that gain privilege, COMMAND's own included, are remembered: they
 * rule out NoNewPrivileges=. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(captrace_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 index = STATE_ARMED;
	__u64 *value;
	if (!in_scope())
		return 0;
	value = bpf_map_lookup_elem(&state, &index);
	if (value && !*value) {
		__u32 at = STATE_ARMED_AT;
		__u64 *armed_at = bpf_map_lookup_elem(&state, &at);
		if (armed_at)
			*armed_at = bpf_ktime_get_ns();
		*value = 1;
	}
	record_exec(bprm);
	exec_succeeded((__u32)old_pid, bprm);
	if (BPF_CORE_READ_BITFIELD(bprm, secureexec)) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		char path[PATH_LEN] = {};
		bpf_probe_read_kernel_str(path, sizeof(path), bprm->filename);
		bpf_map_update_elem(&escalations, &tgid, path, BPF_ANY);
		state_add(STATE_ESCALATIONS, 1);
	}
	return 0;
}

/* MODE_PIDS: children of a process in scope join it; a thread group leaves when it dies. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(captrace_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u8 one = 1;
	if (mode != MODE_PIDS)
		return 0;
	ptgid = BPF_CORE_READ(parent, tgid);
	if (!bpf_map_lookup_elem(&pids, &ptgid))
		return 0;
	ctgid = BPF_CORE_READ(child, tgid);
	bpf_map_update_elem(&pids, &ctgid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(captrace_exit, struct task_struct *p, bool group_dead)
{
	__u32 tgid;
	if (mode != MODE_PIDS || !group_dead)
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&pids, &tgid);
	return 0;
}
