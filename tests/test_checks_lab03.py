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
    # --- added for issue 11, each from what students (and published code) really write ---
    # A Python `if` on a tensor: "Boolean value of Tensor with more than one value is
    # ambiguous", PyTorch's most asked-about error in custom losses (discuss.pytorch.org; the
    # fix, torch.where, is documented at pytorch.org/docs/stable/generated/torch.where.html).
    ("3.1", "Python if on a tensor", """
        def huber(x, delta=1.0):
            if x.abs() <= delta:
                return 0.5 * x**2
            return delta * (x.abs() - 0.5 * delta)""", "cannot pick a branch for each element"),
    # F.huber_loss / nn.HuberLoss average by default (reduction='mean', PyTorch docs of
    # torch.nn.HuberLoss): the elementwise loss needs reduction="none".
    ("3.1", "F.huber_loss with its default reduction", """
        def huber(x, delta=1.0):
            return F.huber_loss(x, torch.zeros_like(x), delta=delta)""",
     "F.huber_loss and nn.HuberLoss average"),
    # eq. 1 transcribed without its parentheses, delta * |x| - delta / 2 (right at delta = 1,
    # the only delta most examples show: PyTorch's SmoothL1Loss and the DQN tutorial use 1).
    ("3.1", "linear branch without parentheses", huber(LINEAR="delta * abs_x - 0.5 * delta"),
     "the parentheses around |x| - delta / 2 are missing"),
    # the loss of the greedy action's Q-value instead of the action taken: the confusion in
    # "How exactly to compute Deep Q-Learning loss function?" (stats.stackexchange.com/q/249355)
    ("3.2", "Q of the greedy action, not the action taken", learn(
        LOSS="huber(q_network(batch.obs).max(dim=1).values - y).mean()"),
     "for the greedy action"),
    # huber called like a criterion, (input, target): the PyTorch DQN tutorial's
    # criterion = nn.SmoothL1Loss(); loss = criterion(state_action_values, expected_...)
    ("3.2", "huber(q, y) like a criterion", learn(LOSS="huber(q_taken, y).mean()"),
     "y became its delta"),
    # gather's (B, 1) kept, as in the PyTorch DQN tutorial (which unsqueezes the target to
    # match), but against a (B,) target: the TD errors broadcast to (B, B)
    ("3.2", "gathered Q-values of shape (B, 1)", learn(
        LOSS="huber(q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)) - y).mean()"),
     "broadcast to (B, B)"),
    # the target loaded from itself: thesouther/MARL issue #8,
    # self.target_qmix_net.load_state_dict(self.target_qmix_net.state_dict())
    ("3.3", "target copied from itself", hard(
        BODY="target_network.load_state_dict(target_network.state_dict())"),
     "loading the target's own state_dict copies nothing"),
    # `if step % every:` reads as "every `every` steps" but is true between the multiples
    # (0 is falsy): the inverted schedule
    ("3.3", "inverted condition", hard(MAYBE="""if step % every:
            hard_update(target_network, q_network)
            return True
        return False"""), "it copied exactly at the steps where it should not"),
    # --- the mistakes of the first version of the checks ---
    ("3.3", "aliasing with .data", hard(BODY="""for t, p in zip(target_network.parameters(), q_network.parameters()):
            t.data = p.data"""), "shares its weights with the online network"),
    ("3.3", "rebinding the name", hard(BODY="target_network = copy.deepcopy(q_network)"),
     "left the target network unchanged"),
    ("3.3", "direction swapped", hard(BODY="q_network.load_state_dict(target_network.state_dict())"),
     "changed the online network"),
    # the target copied as often as the online network learns (sebtheiler/tutorials issue #6:
    # "target-network and online-network gets updated at the same frequency")
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


def test_the_learning_step_is_checked_with_the_course_huber_and_td_target():
    """A wrong huber (3.1) and a wrong td_target (lab 02) cost nothing in 3.2, visible or
    hidden: its checks put the course's own pieces in their place."""
    import textwrap

    from .conftest import hidden_verdict, namespace, run_check, solution

    ns = dict(namespace(solution("03")))
    exec(textwrap.dedent(huber(QUAD="x**2") + """
    def td_target(rewards, next_obs, terminated, target_network, gamma):
        with torch.no_grad():
            return rewards + gamma * target_network(next_obs).max(dim=1).values
    """), ns)
    run_check("3.2", ns)
    verdict = hidden_verdict("03", "3.2", ns)
    assert verdict.passed, verdict


RIGHT_VARIANTS = [
    ("3.1", "Huber from a clamp (as TensorFlow's huber_loss writes it)", """
        def huber(x, delta=1.0):
            quadratic = torch.clamp(x.abs(), max=delta)
            return 0.5 * quadratic**2 + delta * (x.abs() - quadratic)"""),
    ("3.1", "strict threshold (both branches agree at |x| = delta)",
     huber(INSIDE="abs_x < delta")),
    ("3.2", "F.smooth_l1_loss (the Huber loss for delta = 1)", learn(
        LOSS="F.smooth_l1_loss(q_taken, y)")),
    ("3.3", "a parameter loop under no_grad, returning the condition", hard(
        BODY="""with torch.no_grad():
            for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                target_param.copy_(param)""",
        MAYBE="""copy = step % every == 0
        if copy:
            hard_update(target_network, q_network)
        return copy""")),
]


@pytest.mark.parametrize("exercise, name, source", RIGHT_VARIANTS,
                         ids=[f"{m[0]}-{m[1]}" for m in RIGHT_VARIANTS])
def test_a_right_variant_passes(exercise, name, source, capsys):
    """Right code written another way passes the notebook's check and the hidden test."""
    import textwrap

    from .conftest import hidden_verdict, namespace, run_check, solution

    ns = dict(namespace(solution("03")))
    exec(textwrap.dedent(source), ns)
    run_check(exercise, ns)
    assert capsys.readouterr().out.startswith(f"\u2714 Exercise {exercise} passed")
    verdict = hidden_verdict("03", exercise, ns)
    assert verdict.passed, verdict
