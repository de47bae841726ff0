"""Typical mistakes of lab 03, each named by its check."""

import pytest

from .conftest import assert_mistake_caught, fill

HUBER = '''
    def huber(x, delta=1.0):
        abs_x = x.abs()
        return torch.where({INSIDE}, {QUAD}, {LINEAR})
'''
HUBER_GOOD = dict(INSIDE="abs_x <= delta", QUAD="0.5 * x**2", LINEAR="delta * (abs_x - 0.5 * delta)")


def huber(**change):
    return fill(HUBER, HUBER_GOOD, **change)


LEARN = '''
    def learn_step(q_network, target_network, optimizer, batch, gamma, max_grad_norm):
        q_taken = q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        y = {Y}
        loss = {LOSS}
        {ZERO}
        {BEFORE}
        loss.backward()
        {CLIP}
        optimizer.step()
        {AFTER}
        return loss.item()
'''
CLIP = "torch.nn.utils.clip_grad_norm_(q_network.parameters(), max_grad_norm)"
LEARN_GOOD = dict(
    Y="td_target(batch.rewards, batch.next_obs, batch.terminated, target_network, gamma)",
    LOSS="huber(q_taken - y).mean()", ZERO="optimizer.zero_grad()", BEFORE="pass", CLIP=CLIP,
    AFTER="pass")


def learn(**change):
    return fill(LEARN, LEARN_GOOD, **change)


HARD = '''
    def hard_update(target_network, q_network):
        {BODY}

    def maybe_hard_update(target_network, q_network, step, every):
        {MAYBE}
'''
HARD_BODY = "target_network.load_state_dict(q_network.state_dict())"
MAYBE_GOOD = """if step % every == 0:
            hard_update(target_network, q_network)
            return True
        return False"""


def hard(BODY=HARD_BODY, MAYBE=MAYBE_GOOD):
    return HARD.replace("{BODY}", BODY).replace("{MAYBE}", MAYBE)


MISTAKES = [
    ("3.1", "no 1/2 in the quadratic branch", huber(QUAD="x**2"), "with the 1/2"),
    ("3.1", "threshold fixed at 1", huber(INSIDE="abs_x <= 1"), "not at |x| = 1"),
    ("3.1", "linear branch not shifted", huber(LINEAR="delta * abs_x"), "the loss jumps"),
    ("3.1", "smooth L1 with beta = delta", """
        def huber(x, delta=1.0):
            return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=delta)""",
     "that is smooth L1 with beta = delta"),
    ("3.1", "delta ignored", """
        def huber(x, delta=1.0):
            return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none")""",
     "use the delta argument"),
    ("3.1", "branches swapped", huber(QUAD="delta * (abs_x - 0.5 * delta)", LINEAR="0.5 * x**2"),
     "the branches are swapped"),
    ("3.1", "mean instead of elementwise", """
        def huber(x, delta=1.0):
            abs_x = x.abs()
            return torch.where(abs_x <= delta, 0.5 * x**2, delta * (abs_x - 0.5 * delta)).mean()""",
     "the loss is elementwise"),
    ("3.1", "through NumPy, no autograd", """
        def huber(x, delta=1.0):
            a = np.abs(x.detach().numpy())
            return torch.tensor(np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta)))""",
     "autograd cannot differentiate"),
    ("3.2", "no clipping", learn(CLIP="pass"), "the step was not clipped"),
    ("3.2", "clipping before backward", learn(BEFORE=CLIP, CLIP="pass"),
     "clipping before backward() (or the target network's gradients) has no effect"),
    ("3.2", "clipping after step", learn(CLIP="pass", AFTER=CLIP), "clipped after optimizer.step()"),
    ("3.2", "clipping the target network", learn(
        CLIP="torch.nn.utils.clip_grad_norm_(target_network.parameters(), max_grad_norm)"),
     "the step was not clipped"),
    ("3.2", "clipping values, not the norm", learn(
        CLIP="torch.nn.utils.clip_grad_value_(q_network.parameters(), max_grad_norm)"),
     "clip_grad_value_"),
    ("3.2", "each tensor on its own", learn(
        CLIP="[torch.nn.utils.clip_grad_norm_(p, max_grad_norm) for p in q_network.parameters()]"),
     "each parameter tensor was clipped on its own"),
    ("3.2", "fixed max norm", learn(
        CLIP="torch.nn.utils.clip_grad_norm_(q_network.parameters(), 10.0)"),
     "the step was not clipped"),
    ("3.2", "fixed small max norm", learn(
        CLIP="torch.nn.utils.clip_grad_norm_(q_network.parameters(), 0.01)"),
     "using the max_grad_norm argument"),
    ("3.2", "always rescaled to max norm", learn(CLIP="""total = torch.sqrt(sum((p.grad**2).sum() for p in q_network.parameters()))
        for p in q_network.parameters():
            p.grad.mul_(max_grad_norm / total)"""), "clipping only ever shrinks a gradient"),
    ("3.2", "no zero_grad", learn(ZERO="pass"), "call optimizer.zero_grad() before loss.backward()"),
    ("3.2", "MSE instead of Huber", learn(LOSS="F.mse_loss(q_taken, y)"),
     "that is the mean squared error"),
    ("3.2", "summed instead of averaged", learn(LOSS="huber(q_taken - y).sum()"),
     "do not sum them"),
    ("3.2", "bootstraps from the online network", learn(
        Y="td_target(batch.rewards, batch.next_obs, batch.terminated, q_network, gamma)"),
     "bootstrapped from the online network"),
    ("3.2", "target with gradients", learn(
        Y="batch.rewards + gamma * (1 - batch.terminated) * target_network(batch.next_obs).max(1).values"),
     "gradients flowed into the target network"),
    ("3.3", "aliasing with .data", hard(BODY="""for t, p in zip(target_network.parameters(), q_network.parameters()):
            t.data = p.data"""), "shares its weights with the online network"),
    ("3.3", "rebinding the name", hard(BODY="target_network = copy.deepcopy(q_network)"),
     "left the target network unchanged"),
    ("3.3", "direction swapped", hard(BODY="q_network.load_state_dict(target_network.state_dict())"),
     "changed the online network"),
    ("3.3", "copies every step", hard(MAYBE="""hard_update(target_network, q_network)
        return True"""), "it copied at every step"),
    ("3.3", "off by one", hard(MAYBE="""if step % every == 1:
            hard_update(target_network, q_network)
            return True
        return False"""), "the copies are off by one"),
    ("3.3", "never copies", hard(MAYBE="""return step % every == 0"""), "it never copied"),
    ("3.3", "returns nothing", hard(MAYBE="""if step % every == 0:
            hard_update(target_network, q_network)"""), "return True when it copied"),
]


@pytest.mark.parametrize("exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, name, source, expected):
    assert_mistake_caught("03", exercise, source, expected)
