namespace Circuits.Interpretability.Reporting;

/// <summary>
/// The strongest connections of a unit in one direction, from one set of expanded weights, with every weight image
/// drawn on one shared colour scale (<see cref="MaxAbs"/> is full colour) so that images can be compared.
/// </summary>
/// <param name="Direction">Inputs or outputs.</param>
/// <param name="OtherLayer">The layer at the other end.</param>
/// <param name="Items">The connections, strongest first.</param>
/// <param name="MaxAbs">The weight magnitude drawn at full colour (the largest among the items).</param>
/// <param name="CropSize">The side of each spatial window, in positions of the source layer.</param>
/// <param name="Method">How the weights were computed, in words (for a details element).</param>
public sealed record UnitConnections(ConnectionDirection Direction, string OtherLayer, IReadOnlyList<UnitConnection> Items, double MaxAbs, int CropSize, string Method);
