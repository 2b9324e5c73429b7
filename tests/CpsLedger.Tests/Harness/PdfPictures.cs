using System.Diagnostics;
using System.IO.Compression;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// A PDF's first page as a PNG (poppler's pdftoppm, installed by .ci/run) and its text (pdftotext), and how much of the picture
/// is ink: read from the PNG itself (8-bit greyscale), so a blank page cannot pass.
/// </summary>
public static class PdfPictures
{
    public static Task<byte[]> FirstPageAsPng(byte[] pdf, int dpi = 110) => PageAsPng(pdf, 1, dpi);

    /// <summary>A page of the PDF (from 1) as a PNG.</summary>
    public static async Task<byte[]> PageAsPng(byte[] pdf, int page, int dpi = 110)
    {
        var folder = Directory.CreateTempSubdirectory("cpsledger-pdf-");
        try
        {
            var input = Path.Combine(folder.FullName, "document.pdf");
            await File.WriteAllBytesAsync(input, pdf);
            await Run("pdftoppm", "-png", "-gray", "-r", dpi.ToString(), "-f", page.ToString(), "-l", page.ToString(), "-singlefile", input,
                Path.Combine(folder.FullName, "page"));
            return await File.ReadAllBytesAsync(Path.Combine(folder.FullName, "page.png"));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>The PDF's text in reading layout (pdftotext -layout), or where <paramref name="raw"/> in the order it is drawn
    /// (pdftotext -raw: the words of a line left to right as they stand on the page).</summary>
    public static async Task<string> Text(byte[] pdf, bool raw = false)
    {
        var folder = Directory.CreateTempSubdirectory("cpsledger-pdf-");
        try
        {
            var input = Path.Combine(folder.FullName, "document.pdf");
            await File.WriteAllBytesAsync(input, pdf);
            await Run("pdftotext", raw ? "-raw" : "-layout", input, Path.Combine(folder.FullName, "document.txt"));
            return await File.ReadAllTextAsync(Path.Combine(folder.FullName, "document.txt"));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>A word of a PDF where it stands: its page (from 1) and its box in points from the page's top left (pdftotext -bbox).</summary>
    public sealed record Word(int Page, double XMin, double YMin, double XMax, double YMax, string Text);

    /// <summary>Every word of the PDF with its page and box, in the order pdftotext reads them.</summary>
    public static async Task<IReadOnlyList<Word>> Words(byte[] pdf)
    {
        var folder = Directory.CreateTempSubdirectory("cpsledger-pdf-");
        try
        {
            var input = Path.Combine(folder.FullName, "document.pdf");
            await File.WriteAllBytesAsync(input, pdf);
            await Run("pdftotext", "-bbox", input, Path.Combine(folder.FullName, "document.html"));
            var html = await File.ReadAllTextAsync(Path.Combine(folder.FullName, "document.html"));
            var words = new List<Word>();
            var page = 0;
            foreach (System.Text.RegularExpressions.Match match in System.Text.RegularExpressions.Regex.Matches(html,
                         "<page |<word xMin=\"([^\"]+)\" yMin=\"([^\"]+)\" xMax=\"([^\"]+)\" yMax=\"([^\"]+)\">([^<]*)</word>"))
            {
                if (match.Value == "<page ")
                {
                    page++;
                    continue;
                }

                double At(int group) => double.Parse(match.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
                words.Add(new Word(page, At(1), At(2), At(3), At(4), System.Net.WebUtility.HtmlDecode(match.Groups[5].Value)));
            }

            return words;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static async Task Run(string tool, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true, UseShellExecute = false })
                            ?? throw new InvalidOperationException($"{tool} did not start (poppler-utils installed?).");
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{tool} failed ({process.ExitCode}): {error}");
    }

    /// <summary>A PNG's size and grey pixels (0 black .. 255 white), decoded here: chunks, zlib, row filters.</summary>
    public static (int Width, int Height, byte[] Pixels) DecodeGreyscale(byte[] png)
    {
        if (png.Length < 8 || png[1] != 'P' || png[2] != 'N' || png[3] != 'G')
            throw new InvalidDataException("Not a PNG.");
        int width = 0, height = 0, channels = 1;
        using var idat = new MemoryStream();
        for (var at = 8; at < png.Length;)
        {
            var length = (png[at] << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
            var type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            if (type == "IHDR")
            {
                width = (png[at + 8] << 24) | (png[at + 9] << 16) | (png[at + 10] << 8) | png[at + 11];
                height = (png[at + 12] << 24) | (png[at + 13] << 16) | (png[at + 14] << 8) | png[at + 15];
                // 8-bit greyscale (colour type 0) or RGB (2), which is what pdftoppm writes.
                if (png[at + 16] != 8 || png[at + 17] is not (0 or 2))
                    throw new InvalidDataException($"Expected 8-bit greyscale or RGB, got depth {png[at + 16]} colour type {png[at + 17]}.");
                channels = png[at + 17] == 2 ? 3 : 1;
            }
            else if (type == "IDAT")
                idat.Write(png, at + 8, length);

            at += 12 + length;
        }

        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress))
            zlib.CopyTo(inflated);
        var raw = inflated.ToArray();
        var stride = width * channels;
        var samples = new byte[stride * height];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            for (var x = 0; x < stride; x++)
            {
                int a = x >= channels ? samples[y * stride + x - channels] : 0, b = y > 0 ? samples[(y - 1) * stride + x] : 0;
                int c = x >= channels && y > 0 ? samples[(y - 1) * stride + x - channels] : 0;
                var value = raw[y * (stride + 1) + 1 + x];
                samples[y * stride + x] = (byte)(filter switch
                {
                    0 => value,
                    1 => value + a,
                    2 => value + b,
                    3 => value + (a + b) / 2,
                    4 => value + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"Unknown PNG filter {filter}."),
                });
            }
        }

        var pixels = new byte[width * height];
        for (var i = 0; i < pixels.Length; i++)
            pixels[i] = channels == 1 ? samples[i] : (byte)((samples[i * 3] + samples[i * 3 + 1] + samples[i * 3 + 2]) / 3);
        return (width, height, pixels);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>The share of pixels darker than light grey in a horizontal band of the page (0 = top, 1 = bottom).</summary>
    public static double Ink((int Width, int Height, byte[] Pixels) picture, double from = 0, double to = 1)
    {
        var (width, height, pixels) = picture;
        int first = (int)(height * from), last = (int)(height * to);
        long dark = 0;
        for (var y = first; y < last; y++)
            for (var x = 0; x < width; x++)
                if (pixels[y * width + x] < 200)
                    dark++;
        return (double)dark / (width * (last - first));
    }
}
