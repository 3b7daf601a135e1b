using System.Globalization;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Cli;

/// <summary>What each unit of the built-in curve circuit is by design: its line detectors' and curve detectors' orientations.</summary>
internal static class CurveCircuitLabels
{
    private static readonly CurveCircuitOptions Design = new();

    /// <summary>"line at 45°" for <c>lines:4</c>, "curve, convex side at 90°" for <c>curves:4</c>; null for other layers or channels.</summary>
    public static string? Label(NeuronAddress unit)
    {
        if (unit.Channel is not int c || c < 0)
        {
            return null;
        }

        if (unit.Layer is CurveCircuit.LinesLayer or CurveCircuit.LinesReluLayer && c < Design.LineOrientations)
        {
            return $"line at {Degrees(c * 180.0 / Design.LineOrientations)}°";
        }

        if (unit.Layer is CurveCircuit.CurvesLayer or CurveCircuit.CurvesReluLayer && c < Design.CurveOrientations)
        {
            return $"curve, convex side at {Degrees(c * 360.0 / Design.CurveOrientations)}°";
        }

        return null;
    }

    private static string Degrees(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
