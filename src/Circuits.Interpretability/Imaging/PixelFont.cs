namespace Circuits.Interpretability.Imaging;

/// <summary>A 3 x 5 pixel font for numbers (digits, minus, point), so plots need no system fonts.</summary>
internal static class PixelFont
{
    public const int GlyphWidth = 3;
    public const int GlyphHeight = 5;

    private static readonly Dictionary<char, string[]> Glyphs = new()
    {
        ['0'] = new[] { "###", "#.#", "#.#", "#.#", "###" },
        ['1'] = new[] { ".#.", "##.", ".#.", ".#.", "###" },
        ['2'] = new[] { "###", "..#", "###", "#..", "###" },
        ['3'] = new[] { "###", "..#", ".##", "..#", "###" },
        ['4'] = new[] { "#.#", "#.#", "###", "..#", "..#" },
        ['5'] = new[] { "###", "#..", "###", "..#", "###" },
        ['6'] = new[] { "###", "#..", "###", "#.#", "###" },
        ['7'] = new[] { "###", "..#", ".#.", ".#.", ".#." },
        ['8'] = new[] { "###", "#.#", "###", "#.#", "###" },
        ['9'] = new[] { "###", "#.#", "###", "..#", "###" },
        ['-'] = new[] { "...", "...", "###", "...", "..." },
        ['.'] = new[] { "...", "...", "...", "...", ".#." },
        [' '] = new[] { "...", "...", "...", "...", "..." },
    };

    /// <summary>The width in pixels of <paramref name="text"/> at <paramref name="scale"/>, with one scaled pixel between glyphs.</summary>
    public static int Measure(string text, int scale) => text.Length == 0 ? 0 : ((text.Length * (GlyphWidth + 1)) - 1) * scale;

    /// <summary>Calls <paramref name="plot"/> for every lit pixel of <paramref name="text"/> with its top-left corner at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public static void Draw(string text, int x, int y, int scale, Action<int, int> plot)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!Glyphs.TryGetValue(text[i], out string[]? glyph))
            {
                glyph = Glyphs[' '];
            }

            int left = x + (i * (GlyphWidth + 1) * scale);
            for (int r = 0; r < GlyphHeight; r++)
            {
                for (int c = 0; c < GlyphWidth; c++)
                {
                    if (glyph[r][c] != '#')
                    {
                        continue;
                    }

                    for (int dy = 0; dy < scale; dy++)
                    {
                        for (int dx = 0; dx < scale; dx++)
                        {
                            plot(left + (c * scale) + dx, y + (r * scale) + dy);
                        }
                    }
                }
            }
        }
    }
}
