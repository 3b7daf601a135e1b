using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml.Linq;
using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// The strongest inputs of a neuron by expanded weights, followed back over several layers: nodes are
/// neurons <c>layer:channel</c>, edges carry the strength and spatial map of the expanded weight. Exports to
/// JSON, GraphML and Graphviz DOT.
/// </summary>
public sealed class CircuitGraph
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Creates a graph from its nodes and edges.</summary>
    public CircuitGraph(IReadOnlyList<CircuitNode> nodes, IReadOnlyList<CircuitEdge> edges)
    {
        Nodes = nodes ?? throw new ArgumentNullException(nameof(nodes));
        Edges = edges ?? throw new ArgumentNullException(nameof(edges));
    }

    /// <summary>The neurons, the target first, then layer by layer backwards.</summary>
    public IReadOnlyList<CircuitNode> Nodes { get; }

    /// <summary>The connections, from earlier to later neurons.</summary>
    public IReadOnlyList<CircuitEdge> Edges { get; }

    /// <summary>
    /// Builds the graph: the <see cref="CircuitGraphOptions.TopK"/> strongest inputs of <paramref name="target"/>
    /// in <paramref name="layersBack"/>[0], then theirs in <paramref name="layersBack"/>[1], and so on: one
    /// <see cref="ExpandedWeights.Compute"/> per layer, restricted to the frontier's channels.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="target">The neuron to explain, <c>layer:channel</c>.</param>
    /// <param name="layersBack">Earlier layers, nearest to the target first (adjacent or not).</param>
    /// <param name="inputShape">One model input's shape without the batch axis (see <see cref="ExpandedWeights.Compute"/>).</param>
    /// <param name="options">Top-k, crop size and part; defaults when null.</param>
    /// <param name="progress">Receives the layer being expanded and the passes of its expanded weights.</param>
    /// <param name="cancellationToken">Stops between passes with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="CircuitsException">The target has no channel, no layers are given, or top-k is not positive; errors of <see cref="ExpandedWeights.Compute"/>.</exception>
    public static CircuitGraph Build(nn.Module<Tensor, Tensor> model, NeuronAddress target, IReadOnlyList<string> layersBack, long[] inputShape, CircuitGraphOptions? options = null,
        IProgress<CircuitGraphProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layersBack);
        options ??= new CircuitGraphOptions();
        var builder = new Builder(target, layersBack.Count, options.TopK);
        string layer = target.Layer;
        for (int depth = 0; depth < layersBack.Count; depth++)
        {
            string earlier = layersBack[depth];
            var expandedOptions = new ExpandedWeightsOptions { TargetChannels = builder.Frontier, CropSize = options.CropSize, Part = options.Part };
            int layerIndex = depth;
            var relay = progress is null ? null : new Relay(p => progress.Report(new CircuitGraphProgress(layerIndex, layersBack.Count, earlier, p)));
            using var set = ExpandedWeights.Compute(model, earlier, layer, inputShape, expandedOptions, relay, cancellationToken);
            builder.Add(set);
            layer = earlier;
        }

        return builder.Graph();
    }

    /// <summary>
    /// Builds the graph from expanded weights computed already, without running the model: <paramref name="sets"/>[0]
    /// goes from the first earlier layer into <paramref name="target"/>'s layer, <paramref name="sets"/>[1] from the
    /// next earlier layer into the first, and so on. Each set must hold the target channels the graph reaches in its
    /// target layer (all of its layer's channels are always enough); the signed or positive or negative part is
    /// whatever the sets hold.
    /// </summary>
    /// <param name="target">The neuron to explain, <c>layer:channel</c>.</param>
    /// <param name="sets">The expanded weights, nearest to the target first.</param>
    /// <param name="topK">How many of the strongest inputs to keep per node.</param>
    /// <exception cref="CircuitsException">The target has no channel, no sets are given, top-k is not positive, the sets do not chain from the target's layer backwards, or a set lacks a channel the graph reaches.</exception>
    public static CircuitGraph FromWeights(NeuronAddress target, IReadOnlyList<ExpandedWeightSet> sets, int topK = 3)
    {
        ArgumentNullException.ThrowIfNull(sets);
        var builder = new Builder(target, sets.Count, topK);
        string layer = target.Layer;
        for (int depth = 0; depth < sets.Count; depth++)
        {
            ExpandedWeightSet set = sets[depth] ?? throw new ArgumentNullException(nameof(sets), $"sets[{depth}] is null.");
            if (set.TargetLayer != layer)
            {
                throw new CircuitsException($"Expanded weights {depth} go from '{set.SourceLayer}' to '{set.TargetLayer}'; expected weights into '{layer}' (the sets must chain back from the target '{target}', nearest first).");
            }

            var missing = builder.Frontier.Where(c => !set.TargetChannels.Contains(c)).ToList();
            if (missing.Count > 0)
            {
                throw new CircuitsException($"Expanded weights from '{set.SourceLayer}' to '{set.TargetLayer}' lack target channel(s) {string.Join(", ", missing)}, which the graph reaches; compute them with those channels (or all).");
            }

            builder.Add(set);
            layer = set.SourceLayer;
        }

        return builder.Graph();
    }

    /// <summary>The graph as indented JSON: <c>{"nodes": [{"layer", "channel", "depth", "id"}], "edges": [{"source", "target", "strength", "sum", "weights"}]}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Document(Nodes.Select(n => new NodeDocument(n.Id, n.Layer, n.Channel, n.Depth)).ToList(), Edges.ToList()), Json);

    /// <summary>Reads a graph written by <see cref="ToJson"/>.</summary>
    /// <exception cref="CircuitsException">The text is not such a graph.</exception>
    public static CircuitGraph FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            Document document = JsonSerializer.Deserialize<Document>(json, Json)
                ?? throw new CircuitsException("The JSON is 'null'; expected a circuit graph object with 'nodes' and 'edges'.");
            if (document.Nodes is null || document.Edges is null)
            {
                throw new CircuitsException("The JSON lacks 'nodes' or 'edges'; expected a circuit graph written by CircuitGraph.ToJson().");
            }

            return new CircuitGraph(document.Nodes.Select(n => new CircuitNode(n.Layer, n.Channel, n.Depth)).ToList(), document.Edges);
        }
        catch (JsonException e)
        {
            throw new CircuitsException($"The text is not a circuit graph ({e.Message}); expected JSON written by CircuitGraph.ToJson().", e);
        }
    }

    /// <summary>The graph in Graphviz DOT: edges from earlier to later neurons, coloured by sign (blue excitatory, red inhibitory), pen width by strength.</summary>
    public string ToDot()
    {
        var text = new StringBuilder();
        text.AppendLine("digraph circuit {");
        text.AppendLine("  rankdir=BT;");
        text.AppendLine("  node [shape=box, fontname=\"Helvetica\"];");
        foreach (CircuitNode node in Nodes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {Quote(node.Id)} [label={Quote(node.Id)}, layer={Quote(node.Layer)}, depth={node.Depth}];");
        }

        double max = Edges.Count == 0 ? 1 : Math.Max(1e-12, Edges.Max(e => e.Strength));
        foreach (CircuitEdge edge in Edges)
        {
            string colour = edge.Sum >= 0 ? "#1f5fbf" : "#c0392b";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"  {Quote(edge.Source)} -> {Quote(edge.Target)} [label=\"{edge.Strength:G3}\", strength={edge.Strength:R}, sum={edge.Sum:R}, color=\"{colour}\", penwidth={0.5 + (3 * edge.Strength / max):F2}];");
        }

        text.AppendLine("}");
        return text.ToString();
    }

    /// <summary>The graph in GraphML, with node keys <c>layer</c>, <c>channel</c>, <c>depth</c> and edge keys <c>strength</c>, <c>sum</c>, <c>weights</c> (the spatial map as JSON).</summary>
    public string ToGraphML()
    {
        XNamespace ns = "http://graphml.graphdrawing.org/xmlns";
        XElement Key(string id, string target, string type) => new(ns + "key", new XAttribute("id", id), new XAttribute("for", target), new XAttribute("attr.name", id), new XAttribute("attr.type", type));
        XElement Data(string key, object value) => new(ns + "data", new XAttribute("key", key), Convert.ToString(value, CultureInfo.InvariantCulture));
        var graph = new XElement(ns + "graph", new XAttribute("id", "circuit"), new XAttribute("edgedefault", "directed"));
        foreach (CircuitNode node in Nodes)
        {
            graph.Add(new XElement(ns + "node", new XAttribute("id", node.Id), Data("layer", node.Layer), Data("channel", node.Channel), Data("depth", node.Depth)));
        }

        foreach (CircuitEdge edge in Edges)
        {
            graph.Add(new XElement(ns + "edge", new XAttribute("source", edge.Source), new XAttribute("target", edge.Target),
                Data("strength", edge.Strength.ToString("R", CultureInfo.InvariantCulture)), Data("sum", edge.Sum.ToString("R", CultureInfo.InvariantCulture)),
                Data("weights", JsonSerializer.Serialize(edge.Weights))));
        }

        var root = new XElement(ns + "graphml",
            Key("layer", "node", "string"), Key("channel", "node", "int"), Key("depth", "node", "int"),
            Key("strength", "edge", "double"), Key("sum", "edge", "double"), Key("weights", "edge", "string"), graph);
        return new XDocument(new XDeclaration("1.0", "utf-8", null), root).Declaration + Environment.NewLine + root;
    }

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private sealed record NodeDocument(string Id, string Layer, int Channel, int Depth);

    private sealed record Document(List<NodeDocument> Nodes, List<CircuitEdge> Edges);

    /// <summary>Grows a graph layer by layer backwards from its target: the nodes, the edges and the frontier still to expand.</summary>
    private sealed class Builder
    {
        private readonly List<CircuitNode> _nodes = new();
        private readonly List<CircuitEdge> _edges = new();
        private readonly int _topK;
        private int _depth;

        public Builder(NeuronAddress target, int layers, int topK)
        {
            ArgumentNullException.ThrowIfNull(target);
            if (target.Channel is not int channel)
            {
                throw new CircuitsException($"Target '{target}' names no channel; expected a neuron such as '{target.Layer}:0'.");
            }

            if (layers == 0)
            {
                throw new CircuitsException($"No earlier layers were given for '{target}'; expected at least one layer that runs before '{target.Layer}'.");
            }

            if (topK <= 0)
            {
                throw new CircuitsException($"TopK {topK} is not valid; expected 1 or more inputs per node.");
            }

            _topK = topK;
            _nodes.Add(new CircuitNode(target.Layer, channel, 0));
            Frontier = new List<int> { channel };
        }

        /// <summary>The channels of the layer reached last, whose inputs come next.</summary>
        public List<int> Frontier { get; private set; }

        /// <summary>Keeps the strongest inputs of every frontier channel in <paramref name="set"/>'s source layer; they become the frontier.</summary>
        public void Add(ExpandedWeightSet set)
        {
            var next = new List<int>();
            foreach (int t in Frontier)
            {
                foreach (var (source, strength) in set.TopSources(t, _topK))
                {
                    float[,] map = set.Map(t, source);
                    var rows = Enumerable.Range(0, map.GetLength(0)).Select(y => Enumerable.Range(0, map.GetLength(1)).Select(x => map[y, x]).ToArray()).ToArray();
                    _edges.Add(new CircuitEdge($"{set.SourceLayer}:{source}", $"{set.TargetLayer}:{t}", strength, rows.Sum(r => r.Sum(v => (double)v)), rows));
                    if (!next.Contains(source))
                    {
                        next.Add(source);
                        _nodes.Add(new CircuitNode(set.SourceLayer, source, _depth + 1));
                    }
                }
            }

            _depth++;
            Frontier = next;
        }

        public CircuitGraph Graph() => new(_nodes, _edges);
    }

    /// <summary>Forwards progress reports synchronously (Progress&lt;T&gt; would post them to a thread pool).</summary>
    private sealed class Relay : IProgress<ExpandedWeightsProgress>
    {
        private readonly Action<ExpandedWeightsProgress> _report;

        public Relay(Action<ExpandedWeightsProgress> report) => _report = report;

        public void Report(ExpandedWeightsProgress value) => _report(value);
    }
}
