"""The streaming control model of schedule.model_schedule compiled to one Python function:
the same rules, cycle for cycle, at a fraction of the cost (issue 13: a folded MobileNet-v1
at II ~200,000 steps ~28 layers over 6 frames).

`schedule.LayerSchedule` and `schedule.AccumulateSchedule` keep their state in attributes and
are stepped through method calls; here every stage's state is a local variable of a function
written for this chain (its geometry inlined as constants, a non-folded layer's engine pipe an
integer bit mask), which CPython runs several times faster.  On top of that, a stage that did
not move in a cycle (no pixel taken, no window issued or finished, no pixel left, no pipe bit
set) keeps its state but for its held window's step counter and its refusal count, and so
does it in the cycles that follow while its offer and its downstream's ready keep their
values, until its step counter reaches S - 1: it sleeps (its code skipped) and on waking adds
the skipped cycles' steps and refusals (a counter that counted in the frozen cycle counts on;
one already at S - 1 waits for its downstream).  A cycle in which no stage moved jumps to the
first wake.  The results are exactly those of the reference (`model_schedule(..., exact=True)`);
tests/chisel/stream/test_compiled_schedule.py compares them on many designs.

Stages are read duck-typed: a LayerSchedule (attributes h, w, rows, kh1, ...) or an
AccumulateSchedule (`layer.pixels`); schedule.py decides which chains come here."""

_LAYER_READY = "r{i} = wr{i} - fr{i} - first{i} < {rows}"
_POOL_READY = "r{i} = not (cnt{i} == {last} and ov{i})"

# one layer's clock edge; `o`/`r`/`rn`: its offer, its ready, its downstream's ready
_LAYER_TAKE = """\
t{i} = o{i} and r{i}
f{i} = o{i} and not r{i}
if f{i}:
    ref{i} += 1
if t{i} and start{i} < 0:
    start{i} = cycle
"""
_WINDOW_READY = """\
ahead = wr{i} - fr{i} - nr{i}
wready = ahead > 0 or (ahead == 0 and wc{i} > nc{i})
adv = not ov{i} or {rn}
left = ov{i} and {rn}
if t{i}:
    wc{i} += 1
    if wc{i} == {w}:
        wc{i} = 0
        wr{i} += 1
"""
_MOVE_WINDOW = """\
if issue:
    if lf{i} == {last_left}:
        lf{i} = {left0}
        if tp{i} == {last_top}:
            tp{i} = {top0}
            fr{i} += {h}
        else:
            tp{i} += {sh}
    else:
        lf{i} += {sw}
    nr{i} = tp{i} + {kh1}
    nr{i} = 0 if nr{i} < 0 else {h1} if nr{i} > {h1} else nr{i}
    nc{i} = lf{i} + {kw1}
    nc{i} = 0 if nc{i} < 0 else {w1} if nc{i} > {w1} else nc{i}
    first{i} = 0 if tp{i} < 0 else {h1} if tp{i} > {h1} else tp{i}
"""
_PARALLEL = """\
issue = wready and adv
""" + _MOVE_WINDOW + """\
if adv:
    if pipe{i} or ov{i}:
        mv = True
    ov{i} = (pipe{i} >> {top_bit}) & 1 == 1
    pipe{i} = ((pipe{i} << 1) | issue) & {mask}
if t{i} or issue:
    mv = True
"""
_FOLDED = """\
finish = held{i} and sc{i} == {last_step} and adv
issue = wready and (not held{i} or finish)
""" + _MOVE_WINDOW + """\
if issue or finish:
    sc{i} = 0
    inc{i} = False
elif held{i} and sc{i} < {last_step}:
    sc{i} += 1
    inc{i} = True
else:
    inc{i} = False
held{i} = issue or (held{i} and not finish)
ov{i} = finish or (ov{i} and not {rn})
if t{i} or issue or finish or left:
    mv = True
"""
_POOL = _LAYER_TAKE + """\
left = ov{i} and {rn}
if t{i} and cnt{i} == {last}:
    cnt{i} = 0
    ov{i} = True
else:
    if t{i}:
        cnt{i} += 1
    if {rn}:
        ov{i} = False
if t{i} or left:
    mv = True
"""
_DONE = """\
if left and done{i} < 0:
    count{i} += 1
    if count{i} == {per_frame}:
        done{i} = cycle
"""


def _is_pool(stage):
    return not hasattr(stage, "rows")


def _constants(stage):
    """The format fields of one stage's code."""
    if _is_pool(stage):
        return {"last": stage.layer.pixels - 1}
    return {"rows": stage.rows, "w": stage.w, "h": stage.h, "w1": stage.w - 1, "h1": stage.h - 1,
            "kh1": stage.kh1, "kw1": stage.kw1, "sh": stage.sh, "sw": stage.sw, "top0": stage.top0,
            "left0": stage.left0, "last_top": stage.last_top, "last_left": stage.last_left,
            "last_step": stage.steps - 1, "top_bit": len(stage.pipe) - 1, "mask": (1 << len(stage.pipe)) - 1}


def _initial_state(i, stage):
    """Assignments of one stage's state variables (from the model's initial attributes)."""
    common = [f"ov{i} = False", f"ref{i} = 0", f"start{i} = -1", f"done{i} = -1", f"count{i} = 0"]
    if _is_pool(stage):
        return common + [f"cnt{i} = 0"]
    return common + [f"wr{i} = 0", f"wc{i} = 0", f"fr{i} = 0", f"tp{i} = {stage.top0}", f"lf{i} = {stage.left0}",
                     f"nr{i} = {stage.need_row}", f"nc{i} = {stage.need_col}", f"first{i} = {stage.first_row}",
                     f"pipe{i} = 0", f"held{i} = False", f"sc{i} = 0", f"inc{i} = False"]


def _indent(text, spaces):
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def _sleep_check(i, stage, rn):
    """The test that skips an asleep stage, and its catch-up on waking: the skipped cycles'
    refusals and (a held window) steps."""
    wake = [f"if zz{i}:", f"    zz{i} = False", f"    gap = cycle - since{i}", f"    if f{i}:", f"        ref{i} += gap"]
    if not _is_pool(stage) and stage.folded:
        wake += [f"    if inc{i}:", f"        sc{i} += gap"]
    return f"if not (zz{i} and cycle < wake{i} and o{i} == po{i} and {rn} == prn{i}):", wake


def _fall_asleep(i, stage, rn):
    """After a cycle in which stage i did not move: asleep until its inputs change or (a held
    window counting steps) its step counter reaches S - 1."""
    lines = ["if mv:", "    moved = True", "else:", f"    zz{i} = True", f"    since{i} = cycle + 1",
             f"    po{i} = o{i}", f"    prn{i} = {rn}"]
    if not _is_pool(stage) and stage.folded:
        lines.append(f"    wake{i} = cycle + 1 + {stage.steps - 1} - sc{i} if inc{i} else limit")
    return lines


def compiled_source(stages, per_frame):
    """Source of `run(n_frames, pixels, out_pixels, limit)` for this chain of stage models,
    returning (frames, cycle, refusals, layer_start, layer_done) as model_schedule's loop does.

    Every stage sleeps after a cycle in which it did not move (its state then changes only in
    its step counter and refusal count): its code is skipped while its offer and its
    downstream's ready keep their values, until the cycle its step counter reaches S - 1, and
    on waking it adds the skipped cycles.  A cycle in which nothing moved jumps to the first
    wake (nothing else can change before).  A stage's ready is computed after its own update
    (readies come from registers), its offer copied before its upstream's."""
    n = len(stages)
    body = ["def run(n_frames, pixels, out_pixels, limit):", "    total = n_frames * pixels",
            "    sent = collected = cycle = 0", "    frames = []"]
    readies = [(_POOL_READY if _is_pool(stage) else _LAYER_READY).format(i=i, **_constants(stage))
               for i, stage in enumerate(stages)]
    for i, stage in enumerate(stages):
        body += ["    " + line for line in _initial_state(i, stage)]
        folded = not _is_pool(stage) and stage.folded  # (the wake of a stage without steps: never)
        body += [f"    zz{i} = False", f"    since{i} = 0", f"    wake{i} = {'0' if folded else 'limit'}",
                 f"    po{i} = prn{i} = False",
                 f"    t{i} = f{i} = False", "    " + readies[i]]
    loop = ["moved = False", "o0 = sent < total"]
    loop += [f"o{i} = ov{i - 1}" for i in range(1, n)]
    loop.append(f"last_offer = ov{n - 1}")
    for i, stage in enumerate(stages):
        rn = f"r{i + 1}" if i + 1 < n else "True"
        fields = dict(_constants(stage), i=i, rn=rn, per_frame=per_frame[i])
        if _is_pool(stage):
            code = _POOL
        else:
            code = _LAYER_TAKE + _WINDOW_READY + (_FOLDED if stage.folded else _PARALLEL)
        test, wake = _sleep_check(i, stage, rn)
        awake = wake + ["mv = False"] + (code + _DONE).format(**fields).splitlines() + [readies[i]]
        awake += _fall_asleep(i, stage, rn)
        loop += [test] + ["    " + line for line in awake]
    loop.append("""\
if t0:
    sent += 1
if last_offer:
    collected += 1
    if collected == out_pixels:
        frames.append(cycle + 1)
        collected = 0
cycle += 1""")
    # nothing moved: every stage asleep, nothing changes before the first wake
    loop += ["if not moved:", f"    cycle = min({', '.join(f'wake{i}' for i in range(n))}, limit)"]
    body.append("    while len(frames) < n_frames and cycle < limit:")
    body += [_indent(block, 8).rstrip("\n") for block in loop]
    for i in range(n):  # the refusals of the cycles skipped at the end
        body += [f"    if zz{i} and f{i}:", f"        ref{i} += cycle - since{i}"]
    refs, starts, dones = (", ".join(f"{name}{i}" for i in range(n)) for name in ("ref", "start", "done"))
    body.append(f"    return frames, cycle, [{refs}], [{starts}], [{dones}]")
    return "\n".join(body) + "\n"


def run_compiled(stages, per_frame, n_frames, pixels, out_pixels, limit):
    """Run the compiled model: (frames, cycles, refusals, layer_start, layer_done), a start or
    done of -1 where it never happened."""
    namespace = {}
    exec(compile(compiled_source(stages, per_frame), "<compiled stream schedule>", "exec"), namespace)
    return namespace["run"](n_frames, pixels, out_pixels, limit)
