using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>The per-module plan and the per-pass state of a <see cref="ForwardRun"/>.</summary>
public sealed partial class ForwardRun
{
    /// <summary>What the run does at one module.</summary>
    private sealed class Slot
    {
        public Slot(string path, nn.Module<Tensor, Tensor> module)
        {
            Path = path;
            Module = module;
        }

        public string Path { get; }

        public nn.Module<Tensor, Tensor> Module { get; }

        public List<Func<Tensor, Tensor, Tensor?>> Post { get; } = new();

        public List<Func<Tensor, Tensor?>> Pre { get; } = new();

        public bool Tap { get; set; }
    }

    /// <summary>The state of one forward pass.</summary>
    private sealed class Pass
    {
        private readonly HashSet<string> _ran = new();
        private readonly Tensor _scopeMarker;

        public Pass(bool keepGraph, Tensor scopeMarker)
        {
            KeepGraph = keepGraph;
            _scopeMarker = scopeMarker;
        }

        public bool KeepGraph { get; }

        public Dictionary<string, Tensor> Captured { get; } = new();

        public List<string> Ran { get; } = new();

        public void Mark(string path)
        {
            if (_ran.Add(path))
            {
                Ran.Add(path);
            }
        }

        public void Record(string path, Tensor output)
        {
            // A module called more than once in one pass (shared weights) keeps its last output.
            if (Captured.Remove(path, out Tensor? previous))
            {
                previous.Dispose();
            }

            // alias() is a second handle to the same native tensor, so gradients with respect to it are gradients
            // with respect to the activation itself; detach() drops the graph.
            Tensor handle = KeepGraph ? output.alias() : output.detach();
            Captured[path] = MoveToScopeOf(handle, _scopeMarker);
        }

        /// <summary>
        /// Registers <paramref name="tensor"/> with the dispose scope of <paramref name="marker"/> (none when the
        /// marker has none). Not <c>MoveToOtherDisposeScope</c> alone: in TorchSharp 0.107 moving a tensor to the
        /// scope it is already in removes it from that scope's list but leaves it marked as owned by the scope, so
        /// the scope never frees it and, once the scope is disposed, the tensor's finalizer throws
        /// <see cref="ObjectDisposedException"/> (ending the process). Detaching first makes the move an attach.
        /// </summary>
        private static Tensor MoveToScopeOf(Tensor tensor, Tensor marker) =>
            tensor.DetachFromDisposeScope().MoveToOtherDisposeScope(marker);
    }

    /// <summary>Thrown by a hook to end the forward pass once every tap has its activation.</summary>
    private sealed class StopForward : Exception
    {
    }
}
