# shoal default seccomp profile
#
# Compiled into shoald (build/gen/runtime/seccomp_profile.c) and resolved by
# rt_seccomp_compile() against the container's capabilities, the host
# architecture and the running kernel. It carries the same facts as Docker's
# default profile (moby/profiles seccomp/default.json): what is not allowed here
# fails with EPERM.
#
# FORMAT
#   One statement per line. '#' starts a comment that runs to the end of the
#   line. Blank lines are ignored. Words are separated by spaces or tabs.
#
#   default <action>
#       The action for every syscall no rule matches (one per profile).
#
#   arches <native> [<compat>...]
#       When the host's native architecture is <native>, the filter also
#       covers the <compat> ABIs. Names are libseccomp's (x86_64, x86, x32,
#       aarch64, arm, s390x, s390, ppc64le, riscv64, mips64, ...).
#
#   <action> <syscall>... [if <cond> [and <cond>]...] [when <gate>...]
#       A rule: the action applies to each listed syscall when all of its
#       conditions hold. Alternatives (OR) are written as separate lines.
#       Syscall names this libseccomp does not know are skipped.
#
#   <action>  allow | errno(<n>) | kill | trap | log
#   <cond>    arg<i> <op> <value>          op: == != < <= > >=   (i = 0..5)
#             arg<i> & <mask> == <value>   (masked equality)
#             values are decimal or 0x-prefixed hexadecimal, unsigned 64-bit.
#   <gate>    the rule exists only if every gate holds:
#             cap=<CAP_NAME>        the container has this capability
#             !cap=<CAP_NAME>       the container lacks it
#             arch=<a>[,<a>...]     the host's native architecture is listed
#             !arch=<a>[,<a>...]    it is not listed
#             minkernel=<x>.<y>     the running kernel is at least x.y

default errno(1)

arches x86_64 x86 x32
arches aarch64 arm
arches s390x s390
arches mips64 mips mips64n32
arches mipsel64 mipsel mipsel64n32
arches riscv64

# ---- always allowed ----------------------------------------------------------

# files and directories
allow access chdir chmod chown chown32 creat faccessat faccessat2 fchdir fchmod fchmodat
allow fchmodat2 fchown fchown32 fchownat getcwd getdents getdents64 lchown lchown32 link linkat
allow mkdir mkdirat mknod mknodat open openat openat2 readlink readlinkat rename renameat
allow renameat2 rmdir symlink symlinkat truncate truncate64 umask unlink unlinkat utime
allow utimensat utimensat_time64 utimes futimesat name_to_handle_at
allow stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64
allow fstatfs fstatfs64 statmount listmount
allow getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat
allow listxattr llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr
allow removexattrat
allow inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark
allow landlock_add_rule landlock_create_ruleset landlock_restrict_self

# file descriptors and I/O
allow close close_range dup dup2 dup3 fcntl fcntl64 flock ioctl lseek _llseek
allow read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2
allow fsync fdatasync sync syncfs sync_file_range fallocate fadvise64 fadvise64_64 readahead
allow ftruncate ftruncate64 copy_file_range sendfile sendfile64 splice tee vmsplice
allow pipe pipe2 eventfd eventfd2 signalfd signalfd4 memfd_create memfd_secret
allow poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64
allow epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old
allow epoll_pwait epoll_pwait2
allow io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents
allow io_pgetevents_time64 ioprio_get ioprio_set

# memory
allow brk mmap mmap2 munmap mremap mprotect madvise mincore msync remap_file_pages
allow mlock mlock2 mlockall munlock munlockall membarrier mseal map_shadow_stack
allow pkey_alloc pkey_free pkey_mprotect cachestat

# processes, threads and signals
allow execve execveat exit exit_group fork vfork wait4 waitid waitpid
allow getpid getppid gettid getpgid getpgrp getsid setpgid setsid
allow kill tkill tgkill pidfd_open pidfd_send_signal process_mrelease
allow rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
allow rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask
allow sigreturn pause restart_syscall
allow futex futex_time64 futex_wait futex_wake futex_requeue futex_waitv
allow set_robust_list get_robust_list set_tid_address rseq set_thread_area get_thread_area
allow prctl seccomp capget capset getrlimit setrlimit ugetrlimit prlimit64 getrusage
allow getpriority setpriority uname sysinfo getcpu getrandom riscv_hwprobe uretprobe

# scheduling
allow sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr
allow sched_getparam sched_setparam sched_getscheduler sched_setscheduler
allow sched_get_priority_max sched_get_priority_min sched_rr_get_interval
allow sched_rr_get_interval_time64

# users and groups
allow getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32
allow getresuid getresuid32 getresgid getresgid32 getgroups getgroups32
allow setuid setuid32 setgid setgid32 setreuid setreuid32 setregid setregid32
allow setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid setfsgid32
allow setgroups setgroups32

# time and timers
allow time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64
allow clock_nanosleep clock_nanosleep_time64 nanosleep adjtimex clock_adjtime
allow clock_adjtime64 alarm getitimer setitimer times
allow timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
allow timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
allow timerfd_settime timerfd_settime64

# System V and POSIX IPC
allow ipc msgget msgctl msgsnd msgrcv semget semctl semop semtimedop semtimedop_time64
allow shmget shmctl shmat shmdt
allow mq_open mq_unlink mq_getsetattr mq_notify mq_timedsend mq_timedsend_time64
allow mq_timedreceive mq_timedreceive_time64

# sockets (socket itself is filtered by family below)
allow socketcall socketpair bind connect listen accept accept4 shutdown
allow getsockname getpeername getsockopt setsockopt
allow send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64

# ---- allowed with conditions ---------------------------------------------------

# tracing was unsafe before 4.8 (seccomp bypass through ptrace)
allow ptrace process_vm_readv process_vm_writev when minkernel=4.8

# every address family but AF_ALG (38) and AF_VSOCK (40)
allow socket if arg0 < 38
allow socket if arg0 == 39
allow socket if arg0 > 40

# personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query
allow personality if arg0 == 0
allow personality if arg0 == 0x8
allow personality if arg0 == 0x20000
allow personality if arg0 == 0x20008
allow personality if arg0 == 0xffffffff

# clone without namespace flags
# (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET = 0x7e020000);
# s390 passes the flags as the second argument
allow clone if arg0 & 0x7e020000 == 0 when !cap=CAP_SYS_ADMIN !arch=s390,s390x
allow clone if arg1 & 0x7e020000 == 0 when !cap=CAP_SYS_ADMIN arch=s390,s390x
# clone3 keeps its flags in memory where the filter cannot see them: answer
# ENOSYS so that libc falls back to clone
errno(38) clone3 when !cap=CAP_SYS_ADMIN

# ---- architecture specific -----------------------------------------------------

allow arch_prctl when arch=x86_64,x32
allow modify_ldt when arch=x86_64,x32,x86
allow arm_fadvise64_64 arm_sync_file_range sync_file_range2 when arch=arm,aarch64
allow breakpoint cacheflush set_tls when arch=arm,aarch64
allow sync_file_range2 swapcontext when arch=ppc64le
allow s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr when arch=s390,s390x
allow riscv_flush_icache when arch=riscv64

# ---- unlocked by capabilities --------------------------------------------------

allow mount umount umount2 mount_setattr move_mount open_tree when cap=CAP_SYS_ADMIN
allow fsopen fsconfig fsmount fspick when cap=CAP_SYS_ADMIN
allow clone clone3 unshare setns sethostname setdomainname when cap=CAP_SYS_ADMIN
allow bpf perf_event_open fanotify_init lookup_dcookie quotactl quotactl_fd when cap=CAP_SYS_ADMIN
allow syslog lsm_get_self_attr lsm_list_modules lsm_set_self_attr when cap=CAP_SYS_ADMIN
allow open_by_handle_at when cap=CAP_DAC_READ_SEARCH
allow reboot when cap=CAP_SYS_BOOT
allow chroot when cap=CAP_SYS_CHROOT
allow init_module finit_module delete_module when cap=CAP_SYS_MODULE
allow acct when cap=CAP_SYS_PACCT
allow ptrace process_vm_readv process_vm_writev when cap=CAP_SYS_PTRACE
allow kcmp pidfd_getfd process_madvise when cap=CAP_SYS_PTRACE
allow iopl ioperm when cap=CAP_SYS_RAWIO
allow settimeofday stime clock_settime clock_settime64 when cap=CAP_SYS_TIME
allow vhangup when cap=CAP_SYS_TTY_CONFIG
allow get_mempolicy set_mempolicy set_mempolicy_home_node mbind when cap=CAP_SYS_NICE
allow syslog when cap=CAP_SYSLOG
allow bpf when cap=CAP_BPF
allow perf_event_open when cap=CAP_PERFMON
