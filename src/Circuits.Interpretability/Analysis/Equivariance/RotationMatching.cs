using System.Globalization;
using System.Text;

namespace Circuits.Interpretability.Analysis.Equivariance;

/// <summary>One unit's best match under rotation.</summary>
/// <param name="Unit">The unit (index into the family) whose image was rotated.</param>
/// <param name="Match">The unit whose image the rotated one resembles most.</param>
/// <param name="Score">The similarity (Pearson correlation inside the inscribed disc) of that match, in [-1, 1].</param>
/// <param name="Offset">(Match − Unit) modulo the family size.</param>
public readonly record struct RotationMatch(int Unit, int Match, double Score, int Offset);

/// <summary>
/// How a family of units maps onto itself under rotation, as <see cref="Equivariance.MatchRotations"/> finds it:
/// for every unit, which unit its rotated image matches best, and how consistently the family shifts by
/// one fixed offset (a rotation-equivariant family rotated by its step maps unit k to unit k + 1).
/// </summary>
public sealed class RotationMatching
{
    internal RotationMatching(double stepDegrees, double[,] similarity)
    {
        StepDegrees = stepDegrees;
        Similarity = similarity;
        int n = similarity.GetLength(0);
        Matches = Enumerable.Range(0, n).Select(i =>
        {
            int best = Enumerable.Range(0, n).Aggregate((b, j) => similarity[i, j] > similarity[i, b] ? j : b);
            return new RotationMatch(i, best, similarity[i, best], ((best - i) % n + n) % n);
        }).ToList();
        Shift = Matches.GroupBy(m => m.Offset).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        Consistency = Matches.Count(m => m.Offset == Shift) / (double)n;
        MeanScore = Matches.Average(m => m.Score);
        ShiftScore = Enumerable.Range(0, n).Average(i => similarity[i, (i + Shift) % n]);
    }

    /// <summary>The rotation applied, in degrees counter-clockwise as displayed.</summary>
    public double StepDegrees { get; }

    /// <summary>Similarity[i, j]: unit i's image rotated by the step against unit j's image (Pearson correlation inside the inscribed disc).</summary>
    public double[,] Similarity { get; }

    /// <summary>Every unit's best match, in unit order.</summary>
    public IReadOnlyList<RotationMatch> Matches { get; }

    /// <summary>The most common offset (Match − Unit mod N); ties go to the smaller offset.</summary>
    public int Shift { get; }

    /// <summary>The fraction of units whose best match lies at <see cref="Shift"/>: 1 for a perfectly equivariant family.</summary>
    public double Consistency { get; }

    /// <summary>The mean similarity of the best matches.</summary>
    public double MeanScore { get; }

    /// <summary>The mean similarity of every unit i to unit i + <see cref="Shift"/> (whether or not that is its best match).</summary>
    public double ShiftScore { get; }

    /// <summary>A readable summary: the shift, consistency and scores, then one line per unit.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"Rotation by {StepDegrees:G6} degrees: shift {Shift}, consistency {Consistency:P0}, mean best score {MeanScore:F3}, mean score at the shift {ShiftScore:F3}\n");
        foreach (RotationMatch m in Matches)
        {
            text.Append(CultureInfo.InvariantCulture, $"  unit {m.Unit,3} -> {m.Match,3} (offset {m.Offset}, score {m.Score:F3})\n");
        }

        return text.ToString();
    }
}
