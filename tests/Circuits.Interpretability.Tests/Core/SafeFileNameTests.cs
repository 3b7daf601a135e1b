using System.Text;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Core;

public class SafeFileNameTests
{
    [Theory]
    [InlineData("mixed4a", "mixed4a")]
    [InlineData("mixed4a.conv_3x3", "mixed4a.conv_3x3")]
    [InlineData("features.3", "features.3")]
    [InlineData("mixed3b:379", "mixed3b_379")]
    [InlineData("mixed4a:10@3,4", "mixed4a_10_3_4")]
    [InlineData("a/b\\c", "a_b_c")]
    [InlineData("x<y>z\"q|w?e*r", "x_y_z_q_w_e_r")]
    [InlineData("two words\ttab", "two_words_tab")]
    [InlineData("nul\0char", "nul_char")]
    [InlineData("seed=1+lr-0.05", "seed=1+lr-0.05")]
    [InlineData("couche_é", "couche_é")]
    [InlineData("", "_")]
    [InlineData(".", "_")]
    [InlineData("..", "__")]
    [InlineData(".hidden", "_hidden")]
    [InlineData("trailing.", "trailing_")]
    [InlineData("CON", "_CON")]
    [InlineData("nul.txt", "_nul.txt")]
    [InlineData("com7", "_com7")]
    [InlineData("CON.", "CON_")]
    [InlineData("console", "console")]
    public void Follows_the_documented_rule(string text, string expected)
    {
        SafeFileName.From(text).Should().Be(expected);
    }

    [Fact]
    public void Every_result_is_one_portable_file_name()
    {
        char[] windowsInvalid = "<>:\"/\\|?*".ToCharArray();
        var random = new Random(7);
        for (int i = 0; i < 500; i++)
        {
            string text = new(Enumerable.Range(0, random.Next(0, 40)).Select(_ => (char)random.Next(0, 0x3000)).ToArray());
            string name = SafeFileName.From(text);
            name.Should().NotBeEmpty();
            name.IndexOfAny(windowsInvalid).Should().Be(-1, $"'{name}' came from a random string");
            name.Should().NotContain(Path.DirectorySeparatorChar.ToString());
            name.Any(char.IsControl).Should().BeFalse();
            name.Should().NotStartWith(".").And.NotEndWith(".");
            Encoding.UTF8.GetByteCount(name).Should().BeLessThanOrEqualTo(SafeFileName.MaxBytes);
            Path.GetFileName(Path.Combine("folder", name)).Should().Be(name);
        }
    }

    [Fact]
    public void Long_names_are_cut_and_stay_distinct()
    {
        string a = new string('a', 300) + "1";
        string b = new string('a', 300) + "2";
        string safeA = SafeFileName.From(a);
        string safeB = SafeFileName.From(b);
        Encoding.UTF8.GetByteCount(safeA).Should().Be(SafeFileName.MaxBytes);
        safeA.Should().NotBe(safeB);
        safeA.Should().MatchRegex("^a+-[0-9a-f]{8}$");
        SafeFileName.From(a).Should().Be(safeA, "the mapping is deterministic");

        // Multi-byte characters are never split.
        string wide = SafeFileName.From(new string('é', 200));
        Encoding.UTF8.GetByteCount(wide).Should().BeLessThanOrEqualTo(SafeFileName.MaxBytes);
        wide.Should().MatchRegex("^é+-[0-9a-f]{8}$");
    }

    [Fact]
    public void Names_can_be_created_on_this_file_system()
    {
        string folder = Path.Combine(Path.GetTempPath(), "safe-file-name-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (string text in new[] { "mixed4a:10@3,4", "..", "a/b", new string('x', 400), "CON" })
            {
                string path = Path.Combine(folder, SafeFileName.From(text));
                File.WriteAllText(path, text);
                Path.GetDirectoryName(path).Should().Be(folder);
            }

            Directory.GetFiles(folder).Should().HaveCount(5);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
