"""Typical mistakes of labs 00 and 01, each named by its check."""

import pytest

from .conftest import assert_mistake_caught

MISTAKES = [
    ("00", "0.1", "plain sum", """
        def discounted_return(rewards, gamma):
            return float(sum(rewards))""", "It equals the plain sum"),
    ("00", "0.1", "first reward discounted", """
        def discounted_return(rewards, gamma):
            return sum(gamma ** (t + 1) * r for t, r in enumerate(rewards))""",
     "The first reward must count fully"),
    ("00", "0.1", "weights reversed", """
        def discounted_return(rewards, gamma):
            return sum(gamma ** t * r for t, r in enumerate(reversed(rewards)))""",
     "The weights are reversed"),
    ("00", "0.2", "max instead of expectation", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            return value_iteration(P, R, gamma)[0]""", "You computed the optimal values"),
    ("00", "0.2", "no bootstrap", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            return (policy * R).sum(axis=1)""", "only the immediate reward"),
    ("00", "0.3", "average instead of max", """
        def value_iteration(P, R, gamma, tol=1e-10):
            uniform = np.full(R.shape, 1 / R.shape[1])
            V = policy_evaluation(P, R, uniform, gamma)
            return V, R + gamma * P @ V""", "You averaged over actions"),
    ("00", "0.3", "returns V only", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            for _ in range(1000):
                V = (R + gamma * P @ V).max(axis=1)
            return V""", "should return a pair (V, Q)"),
    ("00", "0.3", "Q without the future", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            for _ in range(1000):
                V = (R + gamma * P @ V).max(axis=1)
            return V, R""", "expected Q*(s, a) = R[s, a] + gamma"),
    ("00", "0.4", "argmax over states", """
        def greedy_policy(Q):
            return np.argmax(Q, axis=0)""", "argmax over states (axis 0)"),
    ("00", "0.4", "max value instead of action", """
        def greedy_policy(Q):
            return Q.max(axis=1)""", "actions are integers"),
    ("01", "1.1", "ignores truncated", """
        def run_episode(env, policy):
            obs, info = env.reset()
            total, steps, terminated = 0.0, 0, False
            while not terminated:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                steps += 1
            return total, steps""", "stop the loop when terminated or truncated is True"),
    ("01", "1.1", "stale observation", """
        def run_episode(env, policy):
            obs, info = env.reset()
            total, steps, done = 0.0, 0, False
            while not done:
                next_obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                steps += 1
                done = terminated or truncated
            return total, steps""", "set obs to what env.step() returns"),
    ("01", "1.1", "counts steps as return", """
        def run_episode(env, policy):
            obs, info = env.reset()
            steps, done = 0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                steps += 1
                done = terminated or truncated
            return float(steps), steps""", "add up every reward"),
    ("01", "1.1", "no reset", """
        def run_episode(env, policy):
            obs = env.observation_space.sample()
            total, steps, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                steps += 1
                done = terminated or truncated
            return total, steps""", "before env.reset()"),
    ("01", "1.2", "hard-coded two actions", """
        def make_random_policy(action_space):
            return lambda obs: int(np.random.randint(2))""", "action_space.sample()"),
    ("01", "1.2", "always the same action", """
        def make_random_policy(action_space):
            return lambda obs: 0""", "returned only actions [0]"),
    ("01", "1.3", "env not seeded", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id)
            policy = make_random_policy(env.action_space)
            return np.array([run_episode(env, policy)[0] for _ in range(episodes)])""",
     "gave different returns when called twice"),
    ("01", "1.3", "seed ignored", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=0)
            policy = make_random_policy(env.action_space)
            return np.array([run_episode(env, policy)[0] for _ in range(episodes)])""",
     "seeds 0 and 1 gave exactly the same returns"),
    ("01", "1.3", "lengths instead of returns of one episode", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=seed)
            policy = make_random_policy(env.action_space)
            return np.array(run_episode(env, policy))""", "expected (50,): one return per episode"),
]


@pytest.mark.parametrize("lab, exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[1]}-{m[2]}" for m in MISTAKES])
def test_typical_mistake_is_named(lab, exercise, name, source, expected):
    assert_mistake_caught(lab, exercise, source, expected)
