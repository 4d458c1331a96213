# SPDX-License-Identifier: MIT
"""libgfiber-gdb.py - gdb sees fibers: info fibers, fiber N CMD, fiber apply.

Loaded by gdb for any program linked with libgfiber (the library's
.debug_gdb_scripts section names this file; `make install` also puts it
where gdb's auto-load looks for the shared library's script): see
docs/gdb.md.  Works on a live process (gdb -p, or a program stopped at a
breakpoint, inside the runtime included) and on a core file, reading the
runtime's own structures from the inferior's memory: no /proc/gfibers,
no module.

Where the Gs are and the offsets of their fields come from the runtime
itself: the symbol gfi_debug (ulib/registry.c), so that the symbol table
is enough (a program stripped of its debug info still shows its fibers,
with function names for sites instead of file:line).

A parked fiber's stack is shown as gdb shows a thread's: its saved
context (ulib/ctx.h: the callee-saved registers and the return address
gf_ctx_switch pushed) is loaded into the selected thread's registers, as
if that thread were just entering gf_ctx_switch on the fiber's stack,
the command runs, and the thread's own registers are written back (Go's
runtime-gdb.py does the same for goroutines).
"""

import struct
import time

import gdb
from gdb.unwinder import Unwinder, register_unwinder

# struct gfi_debug (ulib/registry.c), version 1: a fixed head, then
# 32-bit fields in this order. size (in the head) pins the count.
_HEAD = struct.Struct("<8sIIQQQQQQ")
_FIELDS = (
    "nstatus", "nreasons", "user_reason_base", "user_reason_len",
    "gscan", "g_size",
    "g_sp", "g_m", "g_status", "g_waitreason", "g_id", "g_parent_id",
    "g_create_pc", "g_fn", "g_waitpc", "g_waitsince", "g_waitobj",
    "g_stack_lo", "g_stack_hi", "g_is_main", "g_name", "g_name_len",
    "g_labels",
    "labels_n", "labels_kv", "labels_kv_size", "labels_key_len",
    "labels_val",
    "m_curg", "m_id", "m_tid",
    "ctx_rip", "ctx_rbp", "ctx_rbx", "ctx_r12", "ctx_r13", "ctx_r14",
    "ctx_r15", "ctx_frame_size",
)
_VERSION = 1
# (the struct is padded to its pointers' alignment)
_SIZE = (_HEAD.size + 4 * len(_FIELDS) + 7) & ~7

# uapi/gfibers.h: the statuses the script reasons about
G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING, G_DEAD, G_LEAKED = 1, 2, 3, 4, 6, 10
CLOCK_MONOTONIC_COARSE = 6  # linux/time.h; the clock of waitsince

# Registers a saved context holds (ctx.h), and the ones we set and restore.
_CTX_REGS = ("rbp", "rbx", "r12", "r13", "r14", "r15")
_THREAD_REGS = ("pc", "sp") + _CTX_REGS


class FiberError(gdb.GdbError):
    pass


def _mem(addr, n):
    return gdb.selected_inferior().read_memory(addr, n).tobytes()


def _u64(addr):
    return struct.unpack("<Q", _mem(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _mem(addr, 4))[0]


def _i64(addr):
    return struct.unpack("<q", _mem(addr, 8))[0]


def _cstr(addr, maxlen):
    if not addr:
        return ""
    b = _mem(addr, maxlen)
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _symbol_addr(name):
    """Address of a symbol, from debug info or the symbol table alone."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)&'%s'" % name))
    except gdb.error:
        return None


def _has_debug_info(pc):
    try:
        return gdb.block_for_pc(pc) is not None
    except RuntimeError:
        return False


class Layout:
    """The runtime's description of itself (gfi_debug), read once per stop."""

    def __init__(self):
        addr = _symbol_addr("gfi_debug")
        if addr is None:
            raise FiberError(
                "libgfiber: no symbol gfi_debug in the program: is it linked "
                "with libgfiber, and does it keep its symbol table? (a fully "
                "stripped program hides its fibers: strip --strip-debug keeps "
                "the symbols, or install its separate debug file)")
        head = _HEAD.unpack(_mem(addr, _HEAD.size))
        magic, version, size = head[0], head[1], head[2]
        if magic != b"gfibers\0":
            raise FiberError("libgfiber: gfi_debug at %#x is not the "
                             "runtime's description (bad magic)" % addr)
        if version != _VERSION or size != _SIZE:
            raise FiberError(
                "libgfiber: the program's runtime describes itself with "
                "version %d (%d bytes); this script reads version %d (%d "
                "bytes): use the libgfiber-gdb.py of the same libgfiber"
                % (version, size, _VERSION, _SIZE))
        (self.allgs, self.nallgs, self.status_names, self.reason_names,
         self.user_reason_names, self.nuser_reasons) = head[3:]
        vals = struct.unpack("<%dI" % len(_FIELDS),
                             _mem(addr + _HEAD.size, 4 * len(_FIELDS)))
        for k, v in zip(_FIELDS, vals):
            setattr(self, k, v)
        self.switch_pc = _symbol_addr("gf_ctx_switch")

    def status_name(self, st):
        st &= ~self.gscan
        if st < self.nstatus:
            return _cstr(_u64(self.status_names + 8 * st), 64)
        return "invalid(%d)" % st

    def reason_name(self, r):
        if r < self.nreasons:
            return _cstr(_u64(self.reason_names + 8 * r), 64)
        i = r - self.user_reason_base
        if 0 <= i < _u32(self.nuser_reasons):
            return _cstr(self.user_reason_names + i * self.user_reason_len,
                         self.user_reason_len)
        return "invalid(%d)" % r


class Fiber:
    def __init__(self, lay, addr):
        self.lay = lay
        self.addr = addr
        raw = _mem(addr, lay.g_size)

        def u(off, n=8):
            return int.from_bytes(raw[off:off + n], "little")

        self.status = u(lay.g_status, 4) & ~lay.gscan
        self.id = u(lay.g_id)
        self.parent_id = u(lay.g_parent_id)
        self.sp = u(lay.g_sp)
        self.m = u(lay.g_m)
        self.waitreason = u(lay.g_waitreason, 4)
        self.waitpc = u(lay.g_waitpc)
        self.waitsince = int.from_bytes(raw[lay.g_waitsince:lay.g_waitsince + 8],
                                        "little", signed=True)
        self.waitobj = u(lay.g_waitobj)
        self.create_pc = u(lay.g_create_pc)
        self.fn = u(lay.g_fn)
        self.stack_lo = u(lay.g_stack_lo)
        self.stack_hi = u(lay.g_stack_hi)
        self.is_main = u(lay.g_is_main, 1)
        name = raw[lay.g_name:lay.g_name + lay.g_name_len]
        self.name = name.split(b"\0", 1)[0].decode("utf-8", "replace")
        self.labels_addr = u(lay.g_labels)

    @property
    def status_name(self):
        return self.lay.status_name(self.status)

    @property
    def parked(self):
        return self.status in (G_WAITING, G_LEAKED)

    @property
    def reason(self):
        return self.lay.reason_name(self.waitreason) if self.parked else "-"

    def labels(self):
        lay = self.lay
        if not self.labels_addr:
            return []
        n = struct.unpack("<i", _mem(self.labels_addr + lay.labels_n, 4))[0]
        out = []
        for i in range(max(0, min(n, 8))):
            kv = self.labels_addr + lay.labels_kv + i * lay.labels_kv_size
            out.append((_cstr(kv, lay.labels_key_len),
                        _cstr(kv + lay.labels_val, lay.labels_key_len)))
        return out

    def tid(self):
        """The thread running it, or None (parked, runnable)."""
        if not self.m:
            return None
        return struct.unpack("<i", _mem(self.m + self.lay.m_tid, 4))[0]


def fibers(lay=None):
    """Every G that is not dead, in creation order of its G."""
    lay = lay or Layout()
    n = _u32(lay.nallgs)
    allgs = _u64(lay.allgs)
    out = []
    if not allgs:
        return out
    ptrs = struct.unpack("<%dQ" % n, _mem(allgs, 8 * n)) if n else ()
    for p in ptrs:
        if not p:
            continue
        f = Fiber(lay, p)
        if f.status == G_DEAD or f.id == 0:
            continue
        out.append(f)
    return out


def find_fiber(fid):
    for f in fibers():
        if f.id == fid:
            return f
    raise FiberError("no fiber %d (info fibers lists them)" % fid)


# ---------------------------------------------------------------- sites

def site(pc):
    """'func (file:line)' of a return address; function+off without debug
    info; '-' for none."""
    if not pc:
        return "-"
    at = pc - 1		# the call, not the instruction after it
    sal = gdb.find_pc_line(at)
    fn = None
    try:
        b = gdb.block_for_pc(at)
        while b is not None and b.function is None:
            b = b.superblock
        if b is not None:
            fn = b.function.name
    except RuntimeError:
        b = None
    if sal.symtab is not None and sal.line:
        return "%s (%s:%d)" % (fn or "??", sal.symtab.filename, sal.line)
    # No line table: the symbol table's name and offset of the call site.
    s = gdb.format_address(pc)
    lt = s.find("<")
    if lt >= 0:
        s = s[lt + 1:s.rfind(">")]
        if " in " in s:
            s = s.split(" in ")[0]
        return s
    return "%#x" % pc


def is_live():
    conn = gdb.selected_inferior().connection
    return conn is not None and conn.type != "core"


def fmt_wait(ns):
    s = ns // 1000000000
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%dh%02dm" % (s // 3600, (s // 60) % 60)


# ---------------------------------------------------------------- switching

def _thread_of(tid):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == tid:
            return t
    return None


def _read_regs():
    frame = gdb.newest_frame()
    return {r: int(frame.read_register(r)) for r in _THREAD_REGS}


def _write_regs(regs):
    gdb.newest_frame().select()
    for r in _THREAD_REGS:
        gdb.execute("set $%s = %d" % (r, regs[r]), to_string=True)


def run_in_fiber(f, fn):
    """Call fn() with the selected thread showing fiber f's stack."""
    tid = f.tid()
    if tid is not None:
        t = _thread_of(tid)
        if t is None:
            raise FiberError("fiber %d runs on thread %d, which gdb does not "
                             "know" % (f.id, tid))
        orig = gdb.selected_thread()
        t.switch()
        gdb.newest_frame().select()
        try:
            fn()
        finally:
            orig.switch()
        return
    lay = f.lay
    if not (f.stack_lo <= f.sp < f.stack_hi):
        raise FiberError("fiber %d has no saved context on its stack (sp "
                         "%#x)" % (f.id, f.sp))
    if lay.switch_pc is None:
        raise FiberError("no symbol gf_ctx_switch: cannot show fiber %d's "
                         "stack" % f.id)
    ctx = {r: _u64(f.sp + getattr(lay, "ctx_" + r)) for r in _CTX_REGS}
    # The fiber as it was entering gf_ctx_switch: the return address at
    # the stack pointer, the callee-saved registers as the caller left
    # them; gdb unwinds from there as for any thread.
    ctx["sp"] = f.sp + lay.ctx_rip
    ctx["pc"] = lay.switch_pc
    if not _has_debug_info(_u64(ctx["sp"]) - 1):
        gdb.write("note: no debug info for fiber %d's frames (stripped?): "
                  "functions are named from the symbol table, without "
                  "file:line or locals\n" % f.id)
    if not is_live():
        _run_on_core(ctx, fn)
        return
    try:
        level = gdb.selected_frame().level()
    except gdb.error:
        level = 0
    saved = _read_regs()
    try:
        _write_regs(ctx)
        fn()
    finally:
        _write_regs(saved)
        if level:
            gdb.execute("frame %d" % level, to_string=True)


# A core file's registers cannot be written. There the fiber's frames are
# made by an unwinder instead: it gives the thread's innermost frame a
# caller that is the fiber entering gf_ctx_switch, and a frame filter
# hides that innermost frame (the thread's own) from backtraces. So the
# fiber's frames are numbered from #1 there (gf_ctx_switch is #1, where
# it is #0 on a live process); `fiber N frame K` takes the numbers shown.
class _FiberUnwinder(Unwinder):
    def __init__(self):
        super().__init__("libgfiber fiber")
        self.ctx = None

    def __call__(self, pf):
        if self.ctx is None or pf.level() != 0:
            return None
        # The id of the thread's frame is put just below the fiber's:
        # gdb stops at a caller whose stack is inner to its callee's.
        pc = pf.read_register("rip")
        sp = gdb.Value(self.ctx["sp"] - 8).cast(pf.read_register("rsp").type)
        ui = pf.create_unwind_info(_FrameId(sp, pc))
        for r in ("pc", "sp") + _CTX_REGS:
            reg = {"pc": "rip", "sp": "rsp"}.get(r, r)
            v = self.ctx[r]
            if r == "pc":
                v += 1	# a caller's pc: gdb looks up pc - 1
            ui.add_saved_register(reg, gdb.Value(v).cast(
                pf.read_register(reg).type))
        return ui


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _HideThreadFrame:
    def __init__(self):
        self.name = "libgfiber fiber"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        if _unwinder.ctx is None:
            return frames
        return (fd for fd in frames if fd.inferior_frame().level() != 0)


_unwinder = _FiberUnwinder()
_core_note_shown = False


def _run_on_core(ctx, fn):
    global _core_note_shown
    if not _core_note_shown:
        _core_note_shown = True
        gdb.write("note: core file: a core's registers cannot be set; the "
                  "fiber's frames are numbered from #1 (#0, the thread's "
                  "own, is hidden)\n")
    _unwinder.ctx = ctx
    gdb.invalidate_cached_frames()
    try:
        fn()
    finally:
        _unwinder.ctx = None
        gdb.invalidate_cached_frames()


def run_cmd(f, cmd):
    """Run a gdb command on fiber f: 'frame K [CMD]' selects its frame K
    first (then runs CMD, in that frame, if given)."""
    def go():
        words = cmd.split(None, 2)
        if len(words) >= 2 and words[0] in ("frame", "f") and \
                words[1].isdigit():
            if len(words) == 3:
                gdb.execute("frame %s" % words[1], to_string=True)
                gdb.execute(words[2], from_tty=False)
            else:
                gdb.execute("frame %s" % words[1], from_tty=False)
            return
        gdb.execute(cmd, from_tty=False)
    run_in_fiber(f, go)


# ---------------------------------------------------------------- commands

def _current_fiber_id(all_):
    try:
        lwp = gdb.selected_thread().ptid[1]
    except AttributeError:
        return None
    for f in all_:
        if f.tid() == lwp and f.status in (G_RUNNING, G_SYSCALL):
            return f.id
    return None


class InfoFibers(gdb.Command):
    """List the program's fibers.
Usage: info fibers [-status NAME] [-reason TEXT] [-leaked] [ID...]
Columns: id, status, wait reason, how long it has waited, wait site (the
call into the blocking API), creation site (the gf_go call), name, labels.
'*' marks the fiber of the selected thread.  -status keeps one status
(waiting, leaked, runnable, running, syscall), -reason one wait reason
(e.g. -reason "chan receive"), -leaked only the fibers the runtime proved
can never wake."""

    def __init__(self):
        super().__init__("info fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        want_status = want_reason = None
        ids = set()
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in ("-status", "-reason") and i + 1 < len(argv):
                if a == "-status":
                    want_status = argv[i + 1]
                else:
                    want_reason = argv[i + 1]
                i += 2
                continue
            if a == "-leaked":
                want_status = "leaked"
            elif a.isdigit():
                ids.add(int(a))
            else:
                raise FiberError("info fibers: unknown argument %r (help "
                                 "info fibers)" % a)
            i += 1
        all_ = fibers()
        cur = _current_fiber_id(all_)
        live = is_live()
        if live:
            now = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
        else:
            now = max([f.waitsince for f in all_ if f.parked] or [0])
        rows = []
        counts = {}
        for f in all_:
            if want_status and f.status_name != want_status:
                continue
            if want_reason and f.reason != want_reason:
                continue
            if ids and f.id not in ids:
                continue
            counts[f.status_name] = counts.get(f.status_name, 0) + 1
            waited = fmt_wait(max(0, now - f.waitsince)) if f.parked else "-"
            lab = ",".join("%s=%s" % kv for kv in f.labels())
            where = site(f.waitpc) if f.parked else (
                "thread %d" % f.tid() if f.tid() is not None else "-")
            rows.append(("*" if f.id == cur else " ", str(f.id),
                         f.status_name, f.reason, waited, where,
                         site(f.create_pc) if f.create_pc else
                         ("gf_main" if f.is_main else "-"),
                         f.name or "-", lab or "-"))
        hdr = (" ", "Id", "Status", "Wait reason", "Waited", "Wait site",
               "Created at", "Name", "Labels")
        widths = [max(len(r[c]) for r in rows + [hdr]) for c in range(len(hdr))]
        for r in [hdr] + rows:
            gdb.write(("%s %s" % (r[0], "  ".join(
                v.ljust(widths[c + 1]) for c, v in enumerate(r[1:])))
                      ).rstrip() + "\n")
        gdb.write("%d fibers%s\n" % (len(rows), "".join(
            ", %d %s" % (n, s) for s, n in sorted(counts.items()))))
        if not live and rows:
            gdb.write("note: a core file does not record when it was "
                      "dumped: waits are measured up to the newest wait "
                      "start it holds\n")
        pcs = [f.waitpc for f in all_ if f.parked and f.waitpc]
        if pcs and not _has_debug_info(pcs[0] - 1):
            gdb.write("note: no debug info for the wait sites (stripped?): "
                      "functions are named from the symbol table, without "
                      "file:line or locals\n")


class FiberCmd(gdb.Command):
    """Run a gdb command on a fiber's stack, as on a thread's.
Usage: fiber ID COMMAND      e.g. fiber 5 bt, fiber 5 bt full,
       fiber ID frame K [COMMAND]   e.g. fiber 5 frame 3 info locals
       fiber apply all|ID... COMMAND
A parked fiber's saved registers are loaded into the selected thread for
the command, and the thread's own registers are restored afterwards; a
running fiber's command runs on its thread."""

    def __init__(self):
        super().__init__("fiber", gdb.COMMAND_STACK, prefix=True)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 1)
        if len(words) < 2 or not words[0].isdigit():
            raise FiberError("usage: fiber ID COMMAND (help fiber)")
        run_cmd(find_fiber(int(words[0])), words[1])


class FiberApply(gdb.Command):
    """Run a gdb command on several fibers.
Usage: fiber apply all COMMAND | fiber apply ID... COMMAND"""

    def __init__(self):
        super().__init__("fiber apply", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        words = arg.split()
        ids = []
        while words and (words[0].isdigit() or words[0] == "all"):
            ids.append(words.pop(0))
        if not ids or not words:
            raise FiberError("usage: fiber apply all|ID... COMMAND")
        cmd = arg.split(None, len(ids))[len(ids)]
        all_ = fibers()
        sel = all_ if "all" in ids else \
            [f for f in all_ if str(f.id) in ids]
        for f in sel:
            tag = f.status_name + (", " + f.reason if f.parked else "")
            gdb.write("\nFiber %d%s [%s]:\n" % (
                f.id, " (%s)" % f.name if f.name else "", tag))
            try:
                run_cmd(f, cmd)
            except gdb.error as e:
                gdb.write("%s\n" % e)


if not getattr(gdb, "_libgfiber_loaded", False):
    gdb._libgfiber_loaded = True
    InfoFibers()
    FiberCmd()
    FiberApply()
    register_unwinder(None, _unwinder, replace=True)
    gdb.frame_filters[_HideThreadFrame().name] = _HideThreadFrame()
