"""Typical mistakes of lab 05, each named by its check."""

import pytest

from .conftest import assert_mistake_caught, fill

CNN = '''
    class NatureQNetwork(nn.Module):
        def __init__(self, n_actions, frames=4):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(frames, 32, kernel_size=8, stride={S1}), {ACT}
                nn.Conv2d(32, 64, kernel_size=4, stride=2), {ACT}
                {CONV3}
                nn.Flatten(),
                nn.Linear({FLAT}, {HIDDEN}), {ACT}
                nn.Linear({HIDDEN}, {OUT}), {OUT_ACT}
            )

        def forward(self, x):
            return self.net({SCALE})
'''
CNN_GOOD = dict(S1="4", ACT="nn.ReLU(),", CONV3="nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),",
                FLAT="64 * 7 * 7", HIDDEN="512", OUT="n_actions", OUT_ACT="", SCALE="x.float() / 255.0")


def cnn(**change):
    return fill(CNN, CNN_GOOD, **change)


def memory(*edits: tuple[str, str]) -> str:
    """The solution's FrameReplayMemory with each (old, new) line edit made (old must exist)."""
    import ast

    import nbformat

    from .conftest import solution

    for cell in nbformat.read(solution("05"), 4).cells:
        tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        for node in tree.body if tree else []:
            if isinstance(node, ast.ClassDef) and node.name == "FrameReplayMemory":
                source = "\n".join(cell.source.splitlines()[node.lineno - 1:node.end_lineno])
    for old, new in edits:
        assert source.count(old) == 1, f"{old!r} is not once in the solution's FrameReplayMemory"
        source = source.replace(old, new)
    return source


STORE = "self.actions[i], self.rewards[i], self.terminated[i] = action, reward, terminated"
PREVIOUS = "np.where(self.first[oldest % self.capacity], oldest, oldest - 1)"
RESULT = "return self.frames[np.stack(slots, axis=1) % self.capacity]"
ZERO_PADDED = """newest = np.asarray(newest)
        out = np.zeros((len(newest), self.stack_size, *self.frames.shape[1:]), np.uint8)
        alive = np.ones(len(newest), bool)
        for k in range(self.stack_size):
            slot = newest - k
            out[alive, self.stack_size - 1 - k] = self.frames[slot[alive] % self.capacity]
            alive &= ~self.first[slot % self.capacity]
        return out"""
STACK_BODY = """slots = [np.asarray(newest)]
        for _ in range(self.stack_size - 1):
            oldest = slots[0]
            slots.insert(0, np.where(self.first[oldest % self.capacity], oldest, oldest - 1))
        return self.frames[np.stack(slots, axis=1) % self.capacity]"""

SIGNAL = '''
    def learning_signal(reward, terminated, lives, new_lives):
        return {REWARD}, {TERMINAL}
'''
SIGNAL_GOOD = dict(REWARD="float(np.sign(reward))", TERMINAL="bool(terminated or new_lives < lives)")


def signal(**change):
    return fill(SIGNAL, SIGNAL_GOOD, **change)


MISTAKES = [
    ("5.1", "pixels not scaled", cnn(SCALE="x.float()"), "does not scale the pixels"),
    ("5.1", "ReLU on the output", cnn(OUT_ACT="nn.ReLU(),"), "must have no activation"),
    ("5.1", "no ReLU between the layers", cnn(ACT="", CONV3="nn.Conv2d(64, 64, 3, stride=1),"),
     "there is no ReLU between the layers"),
    ("5.1", "a fixed number of outputs", cnn(OUT="4"), "use the n_actions argument"),
    ("5.1", "256 hidden units", cnn(HIDDEN="256"), "expected 3136 -> 512"),
    ("5.1", "first conv with stride 2", cnn(S1="2", FLAT="64 * 17 * 17"),
     "expected Conv2d(4, 32, kernel_size=8, stride=4)"),
    ("5.1", "only two conv layers", cnn(CONV3="", FLAT="64 * 9 * 9"),
     "found 2 nn.Conv2d layers, expected 3"),
    ("5.2", "stores the oldest frame of obs",
     memory(("self.frames[i] = obs[-1]", "self.frames[i] = obs[0]")), "was never played"),
    ("5.2", "the whole stack in a slot",
     memory(("self.frames[i] = obs[-1]", "self.frames[i] = obs")), "could not broadcast"),
    ("5.2", "no slot for an episode's last frame",
     memory(("if episode_over:", "if episode_over and False:")),
     "one more for the last frame of each finished episode"),
    ("5.2", "first flag never set",
     memory(("self.first[i], self.is_transition[i] = self.episode_over, True",
             "self.first[i], self.is_transition[i] = False, True")), "episode's first slot"),
    ("5.2", "first flag on the slot after an episode's start",
     memory(("self.first[i], self.is_transition[i] = self.episode_over, True",
             "self.first[i], self.is_transition[i] = not self.episode_over, True")),
     "episode's first slot"),
    ("5.2", "action stored in the next slot",
     memory((STORE, "pass"), ("self.position += 1\n        if episode_over",
                              "self.position += 1\n        j = self.position % self.capacity\n"
                              "        self.actions[j], self.rewards[j], self.terminated[j] = "
                              "action, reward, terminated\n        if episode_over")),
     "store them in the slot of obs[-1]"),
    ("5.2", "stacks padded with zeros", memory((STACK_BODY, ZERO_PADDED)), "are zeros"),
    ("5.2", "stacks cross episode starts", memory((PREVIOUS, "oldest - 1")),
     "episode's first slot"),
    ("5.2", "frames newest first",
     memory((RESULT, "return self.frames[np.stack(slots[::-1], axis=1) % self.capacity]")),
     "reverse order"),
    ("5.2", "no modulo: the ring cannot wrap",
     memory((RESULT, "return self.frames[np.stack(slots, axis=1)]")), "IndexError"),
    ("5.3", "clipped to [-1, 1] instead of the sign", signal(REWARD="float(np.clip(reward, -1, 1))"),
     "Clip to the reward's sign"),
    ("5.3", "only positive rewards clipped", signal(REWARD="float(min(reward, 1))"),
     "the clipped reward is the reward's sign"),
    ("5.3", "an int reward", signal(REWARD="int(np.sign(reward))"), "should be a float"),
    ("5.3", "a lost life not terminal", signal(TERMINAL="bool(terminated)"), "a life was lost"),
    ("5.3", "only the last life terminal", signal(TERMINAL="bool(terminated or new_lives == 0)"),
     "a life was lost (5 -> 4)"),
    ("5.3", "a change of lives either way", signal(TERMINAL="bool(terminated or new_lives != lives)"),
     "a life was gained, not lost"),
    ("5.3", "terminated ignored", signal(TERMINAL="new_lives < lives"), "the game is over"),
]


@pytest.mark.parametrize("exercise, mistake, source, expected", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, mistake, source, expected):
    assert_mistake_caught("05", exercise, source, expected)
