using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>Attaches TorchSharp hooks to modules and removes them exactly once.</summary>
internal sealed class HookHandle : IDisposable
{
    private Action? _remove;

    private HookHandle(Action remove) => _remove = remove;

    public void Dispose()
    {
        Action? remove = Interlocked.Exchange(ref _remove, null);
        remove?.Invoke();
    }

    /// <summary>The module as a one-tensor-in, one-tensor-out module, or an error naming what it is.</summary>
    public static nn.Module<Tensor, Tensor> AsTensorModule(nn.Module module, string path, string purpose)
    {
        if (module is nn.Module<Tensor, Tensor> typed)
        {
            return typed;
        }

        throw new UnsupportedLayerException(
            $"Layer '{path}' is a {Describe(module.GetType())}; {purpose} needs a module that takes one tensor and returns one " +
            "(nn.Module<Tensor, Tensor>). Address one of its submodules, or a parent that is such a module.");
    }

    /// <summary>
    /// A forward hook that sees the input and output and may return a replacement output (null keeps it).
    /// Hooks attached through this class run in the order they were attached, whatever TorchSharp's own
    /// hook table does (it is a dictionary, whose order is lost once entries are removed).
    /// </summary>
    public static HookHandle Forward(nn.Module<Tensor, Tensor> module, Func<Tensor, Tensor, Tensor?> hook) =>
        Dispatcher.For(module).Add(post: hook, pre: null);

    /// <summary>A pre-forward hook that sees the input and may return a replacement (null keeps it); ordered like <see cref="Forward"/>.</summary>
    public static HookHandle Pre(nn.Module<Tensor, Tensor> module, Func<Tensor, Tensor?> hook) =>
        Dispatcher.For(module).Add(post: null, pre: hook);

    /// <summary>
    /// A hook that only learns that the module ran. Works on every hookable module, whatever its forward's
    /// signature; returns null for a module TorchSharp cannot hook.
    /// </summary>
    public static HookHandle? Ran(nn.Module module, Action onRun)
    {
        MethodInfo? register = module.GetType().GetMethod("register_forward_hook", new[] { typeof(Action<nn.Module>) });
        if (register is null)
        {
            return null;
        }

        object? remover = register.Invoke(module, new object[] { (Action<nn.Module>)(_ => onRun()) });
        MethodInfo? remove = remover?.GetType().GetMethod("remove", Type.EmptyTypes);
        return remove is null ? null : new HookHandle(() => remove.Invoke(remover, null));
    }

    /// <summary>A readable generic type name such as <c>Module&lt;Tensor, Tensor, Tensor&gt;</c>.</summary>
    public static string Describe(Type type)
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.Name.StartsWith("Module`", StringComparison.Ordinal))
            {
                return $"{type.Name} (Module<{string.Join(", ", t.GetGenericArguments().Select(a => a.Name))}>)";
            }
        }

        return type.Name;
    }

    /// <summary>
    /// One TorchSharp pre-hook and one forward hook per module, which run this library's hooks in the order
    /// they were attached. The TorchSharp hooks are removed when the last of ours goes.
    /// </summary>
    private sealed class Dispatcher
    {
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<nn.Module, Dispatcher> Table = new();
        private readonly nn.Module<Tensor, Tensor> _module;
        private readonly List<(object Token, Func<Tensor, Tensor, Tensor?> Hook)> _post = new();
        private readonly List<(object Token, Func<Tensor, Tensor?> Hook)> _pre = new();
        private nn.Module<Tensor, Tensor>.HookRemover? _postRemover;
        private nn.Module<Tensor, Tensor>.HookRemover? _preRemover;

        private Dispatcher(nn.Module<Tensor, Tensor> module) => _module = module;

        public static Dispatcher For(nn.Module<Tensor, Tensor> module)
        {
            lock (Table)
            {
                return Table.GetValue(module, m => new Dispatcher((nn.Module<Tensor, Tensor>)m));
            }
        }

        public HookHandle Add(Func<Tensor, Tensor, Tensor?>? post, Func<Tensor, Tensor?>? pre)
        {
            var token = new object();
            lock (this)
            {
                if (post is not null)
                {
                    _post.Add((token, post));
                    _postRemover ??= _module.register_forward_hook((_, input, output) => RunPost(input, output)!);
                }

                if (pre is not null)
                {
                    _pre.Add((token, pre));
                    _preRemover ??= _module.register_forward_pre_hook((_, input) => RunPre(input)!);
                }
            }

            return new HookHandle(() => Remove(token));
        }

        private void Remove(object token)
        {
            lock (this)
            {
                if (_post.RemoveAll(e => ReferenceEquals(e.Token, token)) > 0 && _post.Count == 0)
                {
                    _postRemover?.remove();
                    _postRemover = null;
                }

                if (_pre.RemoveAll(e => ReferenceEquals(e.Token, token)) > 0 && _pre.Count == 0)
                {
                    _preRemover?.remove();
                    _preRemover = null;
                }
            }
        }

        private Tensor? RunPost(Tensor input, Tensor output)
        {
            Func<Tensor, Tensor, Tensor?>[] hooks;
            lock (this)
            {
                hooks = _post.Select(e => e.Hook).ToArray();
            }

            Tensor current = output;
            foreach (var hook in hooks)
            {
                current = hook(input, current) ?? current;
            }

            return ReferenceEquals(current, output) ? null : current;
        }

        private Tensor? RunPre(Tensor input)
        {
            Func<Tensor, Tensor?>[] hooks;
            lock (this)
            {
                hooks = _pre.Select(e => e.Hook).ToArray();
            }

            Tensor current = input;
            foreach (var hook in hooks)
            {
                current = hook(current) ?? current;
            }

            return ReferenceEquals(current, input) ? null : current;
        }
    }
}
