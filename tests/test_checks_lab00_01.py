"""Typical mistakes of labs 00 and 01, each named by its check (visible and hidden)."""

import textwrap

import pytest

from .conftest import assert_mistake_caught, hidden_verdict, namespace, run_check, solution

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
    # The notebook's hint, G = r + gamma * G, with the loop run forwards (reversed() dropped).
    ("00", "0.1", "backward recursion run forwards", """
        def discounted_return(rewards, gamma):
            G = 0.0
            for reward in rewards:
                G = reward + gamma * G
            return G""", "loop over reversed(rewards)"),
    # REINFORCE code (pytorch/examples reinforcement_learning/reinforce.py, finish_episode)
    # builds every step's return with returns.insert(0, R); students return that list.
    ("00", "0.1", "returns-to-go instead of G_0", """
        def discounted_return(rewards, gamma):
            G, returns = 0.0, []
            for reward in reversed(rewards):
                G = reward + gamma * G
                returns.insert(0, G)
            return returns""", "returns-to-go"),
    # Beginners look a reward's position up with list.index, which finds the first equal
    # value (Python docs, list.index); it shows only when rewards repeat.
    ("00", "0.1", "position by rewards.index", """
        def discounted_return(rewards, gamma):
            return sum(gamma ** rewards.index(r) * r for r in rewards)""",
     "finds the first equal reward"),
    ("00", "0.2", "max instead of expectation", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            return value_iteration(P, R, gamma)[0]""", "You computed the optimal values"),
    ("00", "0.2", "no bootstrap", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            return (policy * R).sum(axis=1)""", "only the immediate reward"),
    # A fixed number of sweeps instead of a convergence test: aima-python's mdp.py evaluates a
    # policy with k=20 sweeps; ShangtongZhang/reinforcement-learning-an-introduction#28 and
    # datawhalechina/easy-rl#138 are evaluations stopped too early.
    ("00", "0.2", "a fixed number of sweeps", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            V = np.zeros(R.shape[0])
            for _ in range(100):
                V = (policy * (R + gamma * P @ V)).sum(axis=1)
            return V""", "the loop stopped before V converged"),
    # Sutton and Barto's "loop ... until delta < theta" written as a while loop whose delta
    # starts at 0, so it never runs (dennybritz/reinforcement-learning#177 discusses this delta).
    ("00", "0.2", "loop never runs", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            V, delta = np.zeros(R.shape[0]), 0.0
            while delta > tol:
                V_new = (policy * (R + gamma * P @ V)).sum(axis=1)
                delta = np.max(np.abs(V_new - V))
                V = V_new
            return V""", "the loop never ran"),
    # Sutton and Barto's in-place sweep (V[s] updated state by state) with V_old = V instead
    # of V.copy(): the change is always 0 and the loop stops after one sweep.
    ("00", "0.2", "in-place sweep, V_old aliases V", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            V = np.zeros(R.shape[0])
            while True:
                V_old = V
                for s in range(len(R)):
                    V[s] = policy[s] @ (R[s] + gamma * P[s] @ V)
                if np.max(np.abs(V - V_old)) < tol:
                    return V""", "V_old = V"),
    # Tested only with the uniform coin-flip policy of the notebook, the average looks right.
    ("00", "0.2", "equal weights instead of the policy's", """
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            V = np.zeros(R.shape[0])
            while True:
                V_new = (R + gamma * P @ V).mean(axis=1)
                if np.max(np.abs(V_new - V)) < tol:
                    return V_new
                V = V_new""", "weight each action by policy[s, a]"),
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
            for _ in range(3000):
                V = (R + gamma * P @ V).max(axis=1)
            return V, R""", "expected Q*(s, a) = R[s, a] + gamma"),
    # np.allclose as the stopping test (common in value-iteration code on GitHub, e.g.
    # `if np.allclose(V, V_new): break`): its default tolerance is far looser than tol.
    ("00", "0.3", "np.allclose as the stopping test", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            while True:
                V_new = (R + gamma * P @ V).max(axis=1)
                if np.allclose(V, V_new):
                    return V_new, R + gamma * P @ V_new
                V = V_new""", "np.allclose's default tolerance"),
    # dennybritz/reinforcement-learning's Value Iteration uses theta=0.0001; students keep it
    # and ignore the tol argument.
    ("00", "0.3", "a loose hard-coded tolerance", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            while True:
                V_new = (R + gamma * P @ V).max(axis=1)
                if np.max(np.abs(V_new - V)) < 1e-4:
                    return V_new, R + gamma * P @ V_new
                V = V_new""", "the loop stopped before V converged"),
    # V_old = V without .copy(), then an in-place update: both names are one array, the
    # change is 0 and the loop stops after one sweep (Deep Learning from Scratch 4's
    # value_iter.py copies explicitly, old_V = V.copy(), for this reason).
    ("00", "0.3", "V_old aliases V", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            while True:
                V_old = V
                V[:] = (R + gamma * P @ V).max(axis=1)
                if np.max(np.abs(V - V_old)) < tol:
                    return V, R + gamma * P @ V""", "V_old = V makes both names one array"),
    # In-place sweeps (Sutton and Barto, section 4.1) for a fixed count: no V_k of the
    # all-states-at-once iteration matches, the in-place one does.
    ("00", "0.3", "a fixed number of in-place sweeps", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            for _ in range(200):
                for s in range(len(R)):
                    V[s] = (R[s] + gamma * P[s] @ V).max()
            return V, R + gamma * P @ V""", "200 in-place sweeps"),
    # max and argmax mixed up: value iteration ends with pi(s) = argmax_a ... in Sutton and
    # Barto's box, one line below V(s) <- max_a ...
    ("00", "0.3", "argmax instead of max", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(R.shape[0])
            while True:
                V_new = (R + gamma * P @ V).argmax(axis=1)
                if np.max(np.abs(V_new - V)) < tol:
                    return V_new, R + gamma * P @ V_new
                V = V_new""", "V holds action indices"),
    # dennybritz's value_iteration returns (policy, V): the order of a pair is easy to swap.
    ("00", "0.3", "(Q, V) instead of (V, Q)", """
        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            while True:
                V_new = (R + gamma * P @ V).max(axis=1)
                if np.max(np.abs(V_new - V)) < tol:
                    return R + gamma * P @ V_new, V_new
                V = V_new""", "the pair is (V, Q), in that order"),
    ("00", "0.4", "argmax over states", """
        def greedy_policy(Q):
            return np.argmax(Q, axis=0)""", "argmax over states (axis 0)"),
    ("00", "0.4", "max value instead of action", """
        def greedy_policy(Q):
            return Q.max(axis=1)""", "actions are integers"),
    # dennybritz/reinforcement-learning's DP solutions return the policy as a one-hot table,
    # policy[s, best_action] = 1.0.
    ("00", "0.4", "a one-hot policy table", """
        def greedy_policy(Q):
            return np.eye(Q.shape[1])[np.argmax(Q, axis=1)]""", "the policy as a table"),
    # np.argmax without axis= flattens Q (NumPy docs: "By default, the index is into the
    # flattened array").
    ("00", "0.4", "argmax without axis", """
        def greedy_policy(Q):
            return np.argmax(Q)""", "np.argmax(Q) without axis="),
    # 0.5, the Q-learning update. The max over the state the transition started from, not
    # the next one (In-Network-Machine-Learning/QCMP#4: max_future_q read from the old state).
    ("00", "0.5", "max over Q[state]", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[state])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_error
            return float(td_error)""", "The max is over the wrong state"),
    # No terminal mask: huggingface/deep-rl-class's unit 2 FrozenLake update, reward + gamma *
    # np.max(Qtable[new_state]), and most FrozenLake tutorials (`target = reward + gamma *
    # np.max(Q[state2, :])`) bootstrap after the episode ended.
    ("00", "0.5", "no terminal mask", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_error
            return float(td_error)""", "Multiply the max by (1 - terminated)"),
    # The weighted-average form (1 - alpha) * Q[s, a] + alpha * td_target with its first term
    # dropped: the learning rate applied to the target instead of the error.
    ("00", "0.5", "learning rate on the target", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] = alpha * td_target
            return float(td_error)""", "Q[state, action] = alpha * td_target forgets"),
    # The update written as in some tutorial comments, Q(s,a) <- Q(s,a) + alpha * (r + gamma *
    # max_a' Q(s',a')): "- Q(s, a)" forgotten, the learning rate scales the whole target.
    ("00", "0.5", "learning rate on the target, added", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_target
            return float(td_error)""", "not alpha * td_target"),
    # TheoLvs/reinforcement-learning#3: np.max(self.Q[s_next, a]), the next state's value of
    # the action just taken (a max over one number).
    ("00", "0.5", "Q[next_state, action] instead of the max", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state, action])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_error
            return float(td_error)""", "Q[next_state, action], the action just taken"),
    ("00", "0.5", "no gamma", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + (1 - terminated) * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_error
            return float(td_error)""", "The future term needs gamma"),
    # The deterministic Bellman assignment Q(s, a) = r + gamma * max Q(s', a') (Arthur Juliani's
    # "Q-learning with tables" write-up): no learning rate at all.
    ("00", "0.5", "Q set to the target", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] = td_target
            return float(td_error)""", "was set to the target itself"),
    # Tutorials' learn() updates the table and returns nothing.
    ("00", "0.5", "returns nothing", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            Q[state, action] += alpha * (td_target - Q[state, action])""", "returned nothing"),
    # Lab 02's td_target returns the target; here the exercise wants the error.
    ("00", "0.5", "returns the target", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            Q[state, action] += alpha * (td_target - Q[state, action])
            return td_target""", "That is the TD target"),
    # The error read back after the update: td_target - Q[state, action] on the new value.
    ("00", "0.5", "TD error after the update", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            Q[state, action] += alpha * (td_target - Q[state, action])
            return float(td_target - Q[state, action])""", "compute the TD error before"),
    # A copy updated, as in functional code (Q = Q.copy()): the caller's table never learns.
    ("00", "0.5", "a copy updated", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            Q = Q.copy()
            td_target = reward + gamma * (1 - terminated) * np.max(Q[next_state])
            td_error = td_target - Q[state, action]
            Q[state, action] += alpha * td_error
            return float(td_error)""", "left Q unchanged: update the table in place"),
    # 0.6, epsilon-greedy. Exploring with probability 1 - epsilon
    # (MorvanZhou/Reinforcement-learning-with-tensorflow#151: "Inverted the meaning of
    # epsilon in the Q-Learning algorithm").
    ("00", "0.6", "exploration inverted", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() > epsilon:
                return int(rng.integers(Q.shape[1]))
            return int(np.argmax(Q[state]))""", "not the other way round"),
    # np.argmax without the row: an index into the flattened table (NumPy docs: "By default,
    # the index is into the flattened array").
    ("00", "0.6", "argmax over the whole table", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() < epsilon:
                return int(rng.integers(Q.shape[1]))
            return int(np.argmax(Q))""", "np.argmax(Q) without [state]"),
    # The table read as Q[action, state]: a column instead of the state's row.
    ("00", "0.6", "argmax over the wrong axis", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() < epsilon:
                return int(rng.integers(Q.shape[1]))
            return int(np.argmax(Q[:, state]))""", "the argmax over states, of the column"),
    # The global generators, as in Holberton's q_learning project ("sample p with
    # numpy.random.uniform ... pick the next action with numpy.random.randint") and
    # simoninithomas/Deep_reinforcement_learning_Course's FrozenLake notebook.
    ("00", "0.6", "np.random instead of rng", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if np.random.uniform() < epsilon:
                return int(np.random.randint(Q.shape[1]))
            return int(np.argmax(Q[state]))""", "not from np.random or random"),
    # The random action drawn from the other actions only.
    ("00", "0.6", "random action never the greedy one", """
        def epsilon_greedy(Q, state, epsilon, rng):
            greedy = int(np.argmax(Q[state]))
            if rng.random() < epsilon:
                others = [a for a in range(Q.shape[1]) if a != greedy]
                return int(rng.choice(others))
            return greedy""", "the greedy one included"),
    # rng.integers(n_actions - 1), the upper bound taken as included (randint-style).
    ("00", "0.6", "last action never drawn", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() < epsilon:
                return int(rng.integers(Q.shape[1] - 1))
            return int(np.argmax(Q[state]))""", "already stops at n_actions - 1"),
    # Random tie-breaking, as ShangtongZhang/reinforcement-learning-an-introduction#51
    # recommends; this course's convention (greedy_policy, select_action) is np.argmax's.
    ("00", "0.6", "random tie-breaking", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() < epsilon:
                return int(rng.integers(Q.shape[1]))
            return int(rng.choice(np.flatnonzero(Q[state] == Q[state].max())))""",
     "ties go to the lowest action"),
    # np.max instead of np.argmax: the value, not the action.
    ("00", "0.6", "the greedy value instead of the action", """
        def epsilon_greedy(Q, state, epsilon, rng):
            if rng.random() < epsilon:
                return int(rng.integers(Q.shape[1]))
            return np.max(Q[state])""", "np.max gives the value, not the action"),
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
    # The pre-0.26 gym API, obs = env.reset(): the policy gets the (obs, info) pair
    # (keras-rl/keras-rl#392, DLR-RM/stable-baselines3#1594).
    ("01", "1.1", "old reset API", """
        def run_episode(env, policy):
            obs = env.reset()
            total, steps, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                steps += 1
                done = terminated or truncated
            return total, steps""", "env.reset() returns a pair"),
    # The pre-0.26 step API, four values (datawhalechina/easy-rl#126, openai/gym#3138).
    ("01", "1.1", "old step API", """
        def run_episode(env, policy):
            obs, info = env.reset()
            total, steps, done = 0.0, 0, False
            while not done:
                obs, reward, done, info = env.step(policy(obs))
                total += reward
                steps += 1
            return total, steps""", "five values in gymnasium"),
    # The PyTorch DQN tutorial counts `for t in count(): ... episode_durations.append(t + 1)`;
    # without the + 1 the length is one short.
    ("01", "1.1", "length one short", """
        from itertools import count

        def run_episode(env, policy):
            obs, info = env.reset()
            total = 0.0
            for t in count():
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                if terminated or truncated:
                    return total, t""", "That is one short"),
    # Checking for the end before adding the reward (the tutorial's `if done: break` placed
    # above the bookkeeping): the last reward is lost.
    ("01", "1.1", "last reward dropped", """
        def run_episode(env, policy):
            obs, info = env.reset()
            total, steps = 0.0, 0
            while True:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                steps += 1
                if terminated or truncated:
                    break
                total += reward
            return total, steps""", "The last reward is missing"),
    # Operator precedence: `not terminated or truncated` is `(not terminated) or truncated`.
    ("01", "1.1", "precedence of not", """
        def run_episode(env, policy):
            obs, info = env.reset()
            total, steps, terminated, truncated = 0.0, 0, False, False
            while not terminated or truncated:
                obs, reward, terminated, truncated, info = env.step(policy(obs))
                total += reward
                steps += 1
            return total, steps""", "truncated ends an episode too"),
    ("01", "1.2", "hard-coded two actions", """
        def make_random_policy(action_space):
            return lambda obs: int(np.random.randint(2))""", "action_space.sample()"),
    ("01", "1.2", "always the same action", """
        def make_random_policy(action_space):
            return lambda obs: 0""", "returned only actions [0]"),
    # Sampling once, when the policy is made, instead of at every call.
    ("01", "1.2", "sampled once", """
        def make_random_policy(action_space):
            action = action_space.sample()
            return lambda obs: action""", "returned the same action every call"),
    # Random actions that ignore the seeded action space (sfujim/TD3#36, openai/gym#681: the
    # space has its own RNG); np.random.randint(n) also ignores Discrete's start.
    ("01", "1.2", "np.random.randint(action_space.n)", """
        def make_random_policy(action_space):
            return lambda obs: int(np.random.randint(action_space.n))""",
     "did not repeat its actions"),
    # The notebook's global CartPole env instead of the action_space argument.
    ("01", "1.2", "a global env's action space", """
        env = make_env("CartPole-v1", seed=0)

        def make_random_policy(action_space):
            return lambda obs: env.action_space.sample()""",
     "other spaces, such as a global env's"),
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
     "pass the seed argument on"),
    ("01", "1.3", "lengths instead of returns of one episode", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=seed)
            policy = make_random_policy(env.action_space)
            return np.array(run_episode(env, policy))""",
     "It played one episode and returned its (return, length)"),
    # The same seed set at every episode start plays the same episode again (openai/gym#194,
    # SofaDefrost/SofaGym#36): here, a new seeded env per episode.
    ("01", "1.3", "a new env per episode", """
        def random_baseline(env_id, episodes, seed):
            returns = []
            for _ in range(episodes):
                env = make_env(env_id, seed=seed)
                returns.append(run_episode(env, make_random_policy(env.action_space))[0])
            return np.array(returns)""", "made a new env for every episode"),
    # ... and the same with env.reset(seed=seed) before every episode.
    ("01", "1.3", "reseeded every episode", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=seed)
            policy = make_random_policy(env.action_space)
            returns = []
            for _ in range(episodes):
                env.reset(seed=seed)
                returns.append(run_episode(env, policy)[0])
            return np.array(returns)""", "reset the env with a seed before an episode"),
    # stable-baselines3's evaluate_policy returns (mean_reward, std_reward): "the baseline" as
    # one number.
    ("01", "1.3", "the mean instead of the returns", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=seed)
            policy = make_random_policy(env.action_space)
            return np.mean([run_episode(env, policy)[0] for _ in range(episodes)])""",
     "That is the mean return"),
    # The PyTorch DQN tutorial records episode_durations, which on CartPole equal the returns;
    # on MountainCar (and Acrobot, hidden) they do not.
    ("01", "1.3", "lengths instead of returns", """
        def random_baseline(env_id, episodes, seed):
            env = make_env(env_id, seed=seed)
            policy = make_random_policy(env.action_space)
            return np.array([run_episode(env, policy)[1] for _ in range(episodes)])""",
     "returned the episode lengths"),
    # 1.4, a Q-learning episode. `done = terminated or truncated` passed to the update: the
    # time-limit bootstrap bug of openai/baselines#436 and jsboige/CoursIA#7821 (the mask
    # (1 - done) zeroes the future at a truncation too).
    ("01", "1.4", "terminated or truncated passed to the update", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                q_learning_update(Q, obs, action, reward, next_obs, done, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
            return episode_return, episode_length""",
     "pass terminated, not terminated or truncated"),
    # No reset: the loop starts stepping (a cell run again after an episode ended).
    ("01", "1.4", "no reset", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, episode_return, episode_length, done = 0, 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "before env.reset()"),
    # The reset moved inside the loop, with the rest of the step.
    ("01", "1.4", "reset every step", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                obs, info = env.reset()
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "called again and again"),
    # obs never advanced (pr-shukla/maddpg-keras#14, "update previous state to new state"):
    # every step chooses and learns in the first state.
    ("01", "1.4", "obs not advanced", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "set obs = next_obs"),
    # obs overwritten by env.step before the update (obs, reward, ... = env.step(action)):
    # the update learns from the new state towards itself.
    ("01", "1.4", "update from the new observation", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, obs, terminated, alpha, gamma)
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "call the update before obs = next_obs"),
    # Holberton's q_learning train() returns Q and the rewards; the table is updated in place.
    ("01", "1.4", "returns Q", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            done = False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                done = terminated or truncated
            return Q""", "Q is updated in place"),
    ("01", "1.4", "(length, return) swapped", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_length, episode_return""", "the pair is (episode_return"),
    # Stopping only at terminated (the CliffWalking docs' "The episode terminates when the
    # player enters state [47]"): a truncated episode is stepped past its end.
    ("01", "1.4", "stops only at terminated", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, terminated = 0.0, 0, False
            while not terminated:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
            return episode_return, episode_length""", "stop the loop when terminated or truncated"),
    # The arguments in another order than the signature's: (..., gamma, alpha).
    ("01", "1.4", "alpha and gamma swapped", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, gamma, alpha)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "alpha and gamma swapped"),
    # Exploration bypassed: random actions from the env's space (LxMLS/lxmls-toolkit#173,
    # "Action was selected randomly instead of using policy derived from current Q values").
    ("01", "1.4", "actions from action_space.sample()", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = env.action_space.sample()
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "epsilon_greedy was never called"),
    # The same mistake in an episode longer than the 200 steps the check keeps of its log:
    # still named, not taken for an episode that stopped early (a random walk of
    # action_space.sample() is sometimes that long).
    ("01", "1.4", "a 300-step episode without epsilon_greedy", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = 0 if episode_length < 300 else 1  # left against the wall, then right
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "epsilon_greedy was never called"),
    # A fresh generator per episode: every episode explores alike.
    ("01", "1.4", "a new rng instead of rng", """
        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            rng_here = np.random.default_rng(0)
            obs, info = env.reset()
            episode_return, episode_length, done = 0.0, 0, False
            while not done:
                action = epsilon_greedy(Q, obs, epsilon, rng_here)
                next_obs, reward, terminated, truncated, info = env.step(action)
                q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
                obs = next_obs
                episode_return += reward
                episode_length += 1
                done = terminated or truncated
            return episode_return, episode_length""", "pass the rng argument"),
]


@pytest.mark.parametrize("lab, exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[1]}-{m[2]}" for m in MISTAKES])
def test_typical_mistake_is_named(lab, exercise, name, source, expected):
    assert_mistake_caught(lab, exercise, source, expected)


# A mistake in 1.1 or 1.2 costs only that exercise: the baseline's check and scenario use
# their own run_episode and make_random_policy.
EARLIER = {
    "run_episode": """
        def run_episode(env, policy):
            obs, info = env.reset()
            return 0.0, 0""",
    "make_random_policy": """
        def make_random_policy(action_space):
            return lambda obs: 0""",
    "both stubs": """
        def run_episode(env, policy):
            raise NotImplementedError("Exercise 1.1: write the loop")

        def make_random_policy(action_space):
            raise NotImplementedError("Exercise 1.2: return a random policy")""",
}


@pytest.mark.parametrize("name", list(EARLIER))
def test_the_baseline_does_not_call_the_students_earlier_code(name):
    ns = dict(namespace(solution("01")))
    exec(textwrap.dedent(EARLIER[name]), ns)
    run_check("1.3", ns)
    verdict = hidden_verdict("01", "1.3", ns)
    assert verdict.passed, verdict


def test_a_converged_iteration_with_another_method_passes():
    """In-place (Gauss-Seidel) sweeps and an exact linear solve are right too."""
    ns = dict(namespace(solution("00")))
    exec(textwrap.dedent("""
        def policy_evaluation(P, R, policy, gamma, tol=1e-10):
            r_pi = (policy * R).sum(axis=1)
            P_pi = np.einsum("sa,sat->st", policy, P)
            return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, r_pi)

        def value_iteration(P, R, gamma, tol=1e-10):
            V = np.zeros(len(R))
            while True:
                delta = 0.0
                for s in range(len(R)):
                    v = (R[s] + gamma * P[s] @ V).max()
                    delta, V[s] = max(delta, abs(v - V[s])), v
                if delta < tol:
                    return V, R + gamma * P @ V"""), ns)
    for exercise in ("0.2", "0.3"):
        run_check(exercise, ns)
        assert hidden_verdict("00", exercise, ns).passed


# A mistake in 0.5 or 0.6 costs only that exercise: the Q-learning episode's check and
# scenario use their own recording stand-ins for lab 01's copies of them.
EARLIER_14 = {
    "q_learning_update": """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            return 0.0""",
    "epsilon_greedy": """
        def epsilon_greedy(Q, state, epsilon, rng):
            return 0""",
    "both stubs": """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            raise NotImplementedError("Exercise 0.5: write the update")

        def epsilon_greedy(Q, state, epsilon, rng):
            raise NotImplementedError("Exercise 0.6: write epsilon-greedy")""",
}


@pytest.mark.parametrize("name", list(EARLIER_14))
def test_the_q_learning_episode_does_not_call_the_students_earlier_code(name):
    ns = dict(namespace(solution("01")))
    exec(textwrap.dedent(EARLIER_14[name]), ns)
    run_check("1.4", ns)
    verdict = hidden_verdict("01", "1.4", ns)
    assert verdict.passed, verdict


# Right answers written otherwise: the checks must not fail them.
RIGHT = [
    ("00", "0.5", """
        def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
            td_target = reward + (0.0 if terminated else gamma * Q[next_state].max())
            old = Q[state, action]
            Q[state, action] = (1 - alpha) * old + alpha * td_target  # the weighted-average form
            return td_target - old"""),
    ("00", "0.6", """
        def epsilon_greedy(Q, state, epsilon, rng):
            random_action = rng.choice(Q.shape[1])  # drawn first, used or not: another order
            if rng.random() >= epsilon:
                return Q[state].argmax()  # a NumPy integer
            return random_action"""),
    ("01", "1.4", """
        from itertools import count

        def q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
            obs, _ = env.reset()
            rewards = []
            for t in count(1):
                action = epsilon_greedy(Q, obs, epsilon, rng)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                q_learning_update(Q, state=obs, action=action, reward=reward, next_state=next_obs,
                                  terminated=terminated, alpha=alpha, gamma=gamma)
                rewards.append(reward)
                if terminated or truncated:
                    return sum(rewards), t
                obs = next_obs"""),
]


@pytest.mark.parametrize("lab, exercise, source", RIGHT, ids=[r[1] for r in RIGHT])
def test_a_right_answer_written_otherwise_passes(lab, exercise, source):
    ns = dict(namespace(solution(lab)))
    exec(textwrap.dedent(source), ns)
    run_check(exercise, ns)
    verdict = hidden_verdict(lab, exercise, ns)
    assert verdict.passed, verdict
