using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Core;

public class NameMatchingTests
{
    [Fact]
    public void Closest_names_rank_by_edit_distance()
    {
        var names = new[] { "mixed3a", "mixed3b", "mixed4a", "conv2d0", "conv2d1", "softmax2" };
        NameMatching.Closest(names, "mixed3c", 3).Should().Equal("mixed3a", "mixed3b", "mixed4a");
        NameMatching.Closest(names, "CONV2D1", 1).Should().Equal("conv2d1");
    }

    [Fact]
    public void A_name_containing_the_query_ranks_before_an_equally_distant_one()
    {
        // Both are two edits from "ab", and "aaxb" sorts first; the one that contains the query wins.
        NameMatching.EditDistance("abxx", "ab").Should().Be(2);
        NameMatching.EditDistance("aaxb", "ab").Should().Be(2);
        NameMatching.Closest(new[] { "aaxb", "abxx" }, "ab", 2).Should().Equal("abxx", "aaxb");
    }

    [Fact]
    public void Ties_break_by_ordinal_order_whatever_the_input_order()
    {
        NameMatching.Closest(new[] { "b1", "a1", "c1" }, "x1", 3).Should().Equal("a1", "b1", "c1");
        NameMatching.Closest(new[] { "c1", "b1", "a1" }, "x1", 3).Should().Equal("a1", "b1", "c1");
        NameMatching.Closest(new[] { "a" }, "a", 0).Should().BeEmpty();
        NameMatching.Closest(Array.Empty<string>(), "a", 3).Should().BeEmpty();
    }

    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    [InlineData("abc", "", 3)]
    [InlineData("flaw", "lawn", 2)]
    [InlineData("same", "same", 0)]
    [InlineData("Case", "case", 1)]
    public void Edit_distance_matches_a_naive_recursion(string a, string b, int expected)
    {
        NameMatching.EditDistance(a, b).Should().Be(expected);
        NameMatching.EditDistance(a, b).Should().Be(Naive(a, b));
        NameMatching.EditDistance(b, a).Should().Be(expected);
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        FluentActions.Invoking(() => NameMatching.Closest(new[] { "a" }, "a", -1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        FluentActions.Invoking(() => NameMatching.Closest(null!, "a", 1)).Should().Throw<ArgumentNullException>().WithParameterName("names");
    }

    private static int Naive(string a, string b)
    {
        if (a.Length == 0)
        {
            return b.Length;
        }

        if (b.Length == 0)
        {
            return a.Length;
        }

        int cost = a[^1] == b[^1] ? 0 : 1;
        return Math.Min(Math.Min(Naive(a[..^1], b) + 1, Naive(a, b[..^1]) + 1), Naive(a[..^1], b[..^1]) + cost);
    }
}
