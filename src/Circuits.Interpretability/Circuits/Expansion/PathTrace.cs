using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The dataflow of one run of a <see cref="LinearizedPath"/>, as its hooks saw it: node 0 is the replaced source,
/// every other node is the output of a leaf module on the path, linked to the nodes its inputs came from. Tensors
/// are matched by identity (the object a module returned is the object the next module receives). A tensor that
/// no hooked module produced (a functional op in some forward code, or a module that takes several tensors, which
/// hooks do not see) becomes an opaque node, unless it is exactly a channel concatenation of the branch outputs not
/// yet used, in order (<c>torch.cat</c> in forward code, or a concatenation module such as InceptionV1's), which is
/// recorded as such. Nothing here is trusted: the kernel composition verifies what it reads from the trace.
/// </summary>
internal sealed class PathTrace : IPathObserver
{
    private readonly Dictionary<Tensor, int> _ids = new(ReferenceEqualityComparer.Instance);
    private readonly List<int> _unused = new();

    /// <summary>The nodes in the order they were produced.</summary>
    public List<TraceNode> Nodes { get; } = new();

    /// <summary>The node the target's output is, or -1 before the target ran.</summary>
    public int Target { get; private set; } = -1;

    /// <summary>Clears the trace for another run.</summary>
    public void Reset()
    {
        _ids.Clear();
        _unused.Clear();
        Nodes.Clear();
        Target = -1;
    }

    /// <inheritdoc />
    public void SourceReplaced(Tensor replacement)
    {
        Reset();
        Add(TraceNodeKind.Source, "(source)", null, Array.Empty<int>(), replacement);
    }

    /// <inheritdoc />
    public void LeafRan(string name, nn.Module module, IReadOnlyList<Tensor> inputs, Tensor output)
    {
        if (Nodes.Count == 0)
        {
            return;
        }

        int[] from = inputs.Select(Resolve).ToArray();
        foreach (int id in from)
        {
            _unused.Remove(id);
        }

        Add(TraceNodeKind.Module, name, module, from, output);
    }

    /// <inheritdoc />
    public void TargetReached(Tensor output)
    {
        if (Nodes.Count > 0)
        {
            Target = Resolve(output);
        }
    }

    private int Resolve(Tensor tensor)
    {
        if (_ids.TryGetValue(tensor, out int id))
        {
            return id;
        }

        // A functional concatenation along channels of the outputs not used yet, in the order they were made?
        if (tensor.dim() == 4)
        {
            for (int first = 0; first < _unused.Count; first++)
            {
                long channels = 0;
                for (int last = first; last < _unused.Count; last++)
                {
                    long[] shape = Nodes[_unused[last]].Shape;
                    if (shape.Length != 4 || shape[0] != tensor.shape[0] || shape[2] != tensor.shape[2] || shape[3] != tensor.shape[3])
                    {
                        break;
                    }

                    channels += shape[1];
                    if (channels == tensor.shape[1] && last == _unused.Count - 1)
                    {
                        int[] parts = _unused.GetRange(first, last - first + 1).ToArray();
                        _unused.RemoveRange(first, last - first + 1);
                        return Add(TraceNodeKind.FunctionalConcat, "(torch.cat along channels)", null, parts, tensor);
                    }
                }
            }
        }

        return Add(TraceNodeKind.Opaque, "(produced by code no hook sees)", null, Array.Empty<int>(), tensor);
    }

    private int Add(TraceNodeKind kind, string name, nn.Module? module, int[] inputs, Tensor tensor)
    {
        int id = Nodes.Count;
        Nodes.Add(new TraceNode(id, kind, name, module, inputs, tensor.shape));
        _ids[tensor] = id;
        if (kind != TraceNodeKind.Opaque)
        {
            _unused.Add(id);
        }

        return id;
    }
}

/// <summary>What made a <see cref="TraceNode"/>.</summary>
internal enum TraceNodeKind
{
    /// <summary>The replaced source layer output.</summary>
    Source,

    /// <summary>A leaf module.</summary>
    Module,

    /// <summary>A channel concatenation done as a function (matched by shapes; verified later).</summary>
    FunctionalConcat,

    /// <summary>A tensor of unknown origin.</summary>
    Opaque,
}

/// <summary>One tensor of a <see cref="PathTrace"/>: what made it, from which nodes, and its shape (batch axis included).</summary>
internal sealed record TraceNode(int Id, TraceNodeKind Kind, string Name, nn.Module? Module, int[] Inputs, long[] Shape);
