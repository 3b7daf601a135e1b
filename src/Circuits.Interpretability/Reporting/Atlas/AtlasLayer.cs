namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>One layer of an atlas.</summary>
/// <param name="Name">The layer's module path.</param>
/// <param name="ChannelCount">Channels the layer has.</param>
/// <param name="Channels">The channels the atlas shows (all of them unless the options chose some), ascending.</param>
/// <param name="Previous">The layer before it in the model's chain (where its units' inputs come from), or null for the first.</param>
/// <param name="Next">The layer after it (where its units' outputs go), or null for the last.</param>
/// <param name="Spatial">True when the layer's output has positions (N x C x H x W), so a unit has a centre neuron.</param>
public sealed record AtlasLayer(string Name, int ChannelCount, IReadOnlyList<int> Channels, string? Previous, string? Next, bool Spatial);
