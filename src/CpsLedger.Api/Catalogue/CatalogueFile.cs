using System.Globalization;
using System.Text;
using System.Text.Json;
using CpsLedger.Api.Platform;

namespace CpsLedger.Api.Catalogue;

public enum CatalogueFileFormat
{
    Csv,
    Json,
}

public enum CatalogueEntryStatus
{
    Listed,
    Withdrawn,
}

/// <summary>
/// One valid row of a catalogue file: the state the file asks for one product model (code normalised, name trimmed,
/// category in lower case). <paramref name="Location"/> says where it came from ("line 7", "item 3").
/// </summary>
public sealed record CatalogueEntry(string Location, string Code, string Name, string Category, int Points, CatalogueEntryStatus Status);

/// <summary>
/// A catalogue file as read: its entries when every row is valid, otherwise every problem found, keyed by where it is
/// ("line 7" in a CSV file, "item 3" in a JSON file, "file" for the file as a whole). A file with any problem imports nothing.
/// </summary>
public sealed class CatalogueFileReading
{
    internal CatalogueFileReading(IReadOnlyList<CatalogueEntry> entries, IReadOnlyDictionary<string, string[]> problems)
    {
        Entries = problems.Count == 0 ? entries : [];
        Problems = problems;
    }

    public IReadOnlyList<CatalogueEntry> Entries { get; }

    public IReadOnlyDictionary<string, string[]> Problems { get; }

    public bool Accepted => Problems.Count == 0;
}

/// <summary>
/// The catalogue file format, read and checked in full before anything is imported.
/// <para>
/// CSV: UTF-8, RFC 4180 (a value containing a comma, a quote or a line break is enclosed in double quotes, and a quote
/// inside it is doubled), a header row naming the columns <c>code,name,category,points</c> and optionally <c>status</c>
/// (any order, any case). Lines starting with <c>#</c> are comments; blank lines (also lines of only commas) are skipped.
/// JSON: an array of objects <c>{"code", "name", "category", "points", "status"?}</c>.
/// </para>
/// <para>
/// Rows: code 1 to 40 characters of letters A-Z a-z, digits, space and <c>- _ .</c> (compared trimmed and upper-case);
/// name 1 to 200 characters on one line; category one of <see cref="CatalogueCategories"/>; points a whole number from
/// 0 to 100000; status <c>listed</c> (the default when empty or absent) or <c>withdrawn</c>; a code at most once per file.
/// At most <see cref="MaxModels"/> rows per file.
/// </para>
/// </summary>
public static class CatalogueFile
{
    public const int MaxModels = 5000;
    public const int MaxCodeLength = 40;
    public const int MaxNameLength = 200;
    public const int MaxPoints = 100_000;

    /// <summary>Where a problem with the whole file (not one row of it) is reported.</summary>
    public const string WholeFile = "file";

    private static readonly string[] Required = ["code", "name", "category", "points"];
    private static readonly string[] Columns = [.. Required, "status"];
    private const string ColumnsDescribed = "code, name, category, points and optionally status";

    // Throws on bytes that are not UTF-8, so that a file saved in another encoding is refused instead of garbled.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The format a request's Content-Type names: <c>text/csv</c>, or JSON (<c>application/json</c>, <c>application/*+json</c>).</summary>
    public static CatalogueFileFormat? FormatOfContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
            return null;
        var mediaType = contentType.Split(';')[0].Trim().ToLowerInvariant();
        return mediaType switch
        {
            "text/csv" => CatalogueFileFormat.Csv,
            "application/json" => CatalogueFileFormat.Json,
            _ when mediaType.StartsWith("application/", StringComparison.Ordinal) && mediaType.EndsWith("+json", StringComparison.Ordinal) =>
                CatalogueFileFormat.Json,
            _ => null,
        };
    }

    /// <summary>The format a file's extension names: <c>.csv</c> or <c>.json</c>.</summary>
    public static CatalogueFileFormat? FormatOfFileName(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".csv" => CatalogueFileFormat.Csv,
        ".json" => CatalogueFileFormat.Json,
        _ => null,
    };

    public static CatalogueFileReading Read(byte[] content, CatalogueFileFormat format)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(content);
        }
        catch (DecoderFallbackException)
        {
            return Rejected($"The file is not UTF-8 text: {WhereNotUtf8(content)} (was it saved as Latin-1 or Windows-1252?). " +
                            "Save it as UTF-8 (in a spreadsheet: \"CSV UTF-8\") and import it again.");
        }

        return Read(text, format);
    }

    /// <summary>"line 4 has a byte that is not UTF-8 after "A1,Objectif "": the first such byte, by its line (as an editor counts
    /// them) and the text before it on that line, shortened to its last 40 characters.</summary>
    private static string WhereNotUtf8(byte[] content)
    {
        var (line, lineStart, at) = (1, 0, 0);
        while (at < content.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(content.AsSpan(at), out var rune, out var consumed) != System.Buffers.OperationStatus.Done)
                break;
            if (rune.Value == '\n')
                (line, lineStart) = (line + 1, at + 1);
            at += consumed;
        }

        var before = Encoding.UTF8.GetString(content, lineStart, at - lineStart).TrimEnd('\r');
        if (before.Length > 40)
            before = "…" + before[^40..];
        return before.Length == 0 ? $"line {line} has a byte that is not UTF-8 at its start" : $"line {line} has a byte that is not UTF-8 after \"{before}\"";
    }

    public static CatalogueFileReading Read(string text, CatalogueFileFormat format)
    {
        text = text.TrimStart('\uFEFF');
        if (string.IsNullOrWhiteSpace(text))
            return Rejected("The file is empty.");

        // Rows that could be read are checked even when others could not, so that every bad row is reported at once.
        var problems = new Problems();
        var (rows, models) = format == CatalogueFileFormat.Csv ? ReadCsv(text, problems) : ReadJson(text, problems);
        if (models > MaxModels)
            return Rejected($"The file lists {models} product models; at most {MaxModels} can be imported at once. Split it into several files.");
        if (models == 0 && !problems.Any)
            return Rejected("The file lists no product models.");

        var entries = new List<CatalogueEntry>();
        var firstSeen = new Dictionary<string, string>();
        foreach (var row in rows)
        {
            var entry = Check(row, problems);

            // Repeats are found among all rows giving a code, also rows with other problems, so one round of fixes suffices.
            if (row.Values.GetValueOrDefault("code")?.Trim() is { Length: > 0 } given && ProductModelCode.Normalize(given) is var code)
            {
                if (firstSeen.TryGetValue(code, out var first))
                {
                    problems.Add(row.Location, $"Code \"{code}\" is already on {first}; a code may appear only once in a file.");
                    continue;
                }

                firstSeen[code] = row.Location;
            }

            if (entry is not null)
                entries.Add(entry);
        }

        return new CatalogueFileReading(entries, problems.ToDictionary());
    }

    private static CatalogueFileReading Rejected(string problem) =>
        new([], new Dictionary<string, string[]> { [WholeFile] = [problem] });

    /// <summary>
    /// A row as written, before its values are checked: a value is null when the row does not give it; a column in
    /// <paramref name="Reported"/> already has a problem reported (a JSON value of the wrong type) and is not checked again.
    /// </summary>
    private sealed record Row(string Location, Dictionary<string, string?> Values, HashSet<string>? Reported = null);

    private static CatalogueEntry? Check(Row row, Problems problems)
    {
        var before = problems.CountAt(row.Location);
        string? Value(string column) => row.Values.GetValueOrDefault(column)?.Trim() is { Length: > 0 } v ? v : null;
        void Problem(string column, string? problem)
        {
            if (problem is not null && !(row.Reported?.Contains(column) ?? false))
                problems.Add(row.Location, problem);
        }

        var code = Value("code");
        Problem("code", code switch
        {
            null => "Code is missing.",
            { Length: > MaxCodeLength } => $"Code is longer than {MaxCodeLength} characters.",
            // Found by index, not by FirstOrDefault: its default, '\0', is itself a character a file can hold (a NUL byte).
            _ when Array.FindIndex(code.ToCharArray(), c => !IsCodeCharacter(c)) is >= 0 and var at =>
                $"Code \"{LedgerJson.ControlsNamed(code)}\" contains {LedgerJson.Quoted(code[at])}; a code has only letters, digits, spaces and - _ .",
            _ => null,
        });

        var name = Value("name");
        Problem("name", name switch
        {
            null => "Name is missing.",
            { Length: > MaxNameLength } => $"Name is longer than {MaxNameLength} characters.",
            _ when name.Any(char.IsControl) => "Name must be one line of text (no line breaks or control characters).",
            // The rest of what the API refuses in any text it reads (bidirectional controls, noncharacters, invisible-only text):
            // a model's name is shown in the portal and printed on invoices as much as any name a request gives.
            _ when LedgerJson.RefuseText(name, multiLine: false) is { } refusal => $"Name {char.ToLowerInvariant(refusal[0])}{refusal[1..]}",
            _ => null,
        });

        var category = Value("category")?.ToLowerInvariant();
        Problem("category", category switch
        {
            null => "Category is missing.",
            _ when !CatalogueCategories.IsKnown(category) => $"Category \"{Value("category")}\" is not one of: {CatalogueCategories.Listed}.",
            _ => null,
        });

        var pointsText = Value("points");
        var points = 0;
        Problem("points", pointsText switch
        {
            null => "Points are missing.",
            _ when !int.TryParse(pointsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out points) || points is < 0 or > MaxPoints =>
                $"Points must be a whole number from 0 to {MaxPoints}, not \"{pointsText}\".",
            _ => null,
        });

        var statusText = Value("status");
        CatalogueEntryStatus? status = statusText?.ToLowerInvariant() switch
        {
            null or "listed" => CatalogueEntryStatus.Listed,
            "withdrawn" => CatalogueEntryStatus.Withdrawn,
            _ => null,
        };
        Problem("status", status is null ? $"Status must be \"listed\" or \"withdrawn\" (or empty for listed), not \"{statusText}\"." : null);

        return problems.CountAt(row.Location) > before || row.Reported is { Count: > 0 }
            ? null
            : new CatalogueEntry(row.Location, ProductModelCode.Normalize(code!), name!, category!, points, status!.Value);
    }

    private static bool IsCodeCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ' ';

    // ---- CSV ------------------------------------------------------------------------------------------------------

    /// <summary>The rows that could be read, and how many the file has (the header aside).</summary>
    private static (List<Row> Rows, int Models) ReadCsv(string text, Problems problems)
    {
        // A record whose quoting leaves the rest of the file unreadable is the last one read, its problem reported on its line.
        var records = CsvRecords.Read(new StringReader(text))
            .Select(r => r.FileProblem is null ? r : r with { Problem = r.FileProblem })
            .ToList();
        if (records.Count == 0)
            return ([], 0);

        var header = records[0];
        var headerAt = $"line {header.Line}";
        if (header.Problem is not null)
        {
            problems.Add(headerAt, header.Problem);
            return ([], records.Count - 1);
        }

        var columns = header.Fields.Select(f => f.Trim().ToLowerInvariant()).ToList();
        if (!columns.Any(Columns.Contains))
        {
            problems.Add(headerAt, $"The first line must be the header row naming the columns ({ColumnsDescribed}), e.g. " +
                                   $"\"code,name,category,points,status\"; found \"{string.Join(",", header.Fields)}\".");
            return ([], records.Count - 1);
        }

        foreach (var unknown in columns.Where(c => !Columns.Contains(c)).Distinct())
            problems.Add(headerAt, $"The header names an unknown column \"{unknown}\"; the columns are {ColumnsDescribed}.");
        foreach (var repeated in columns.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key))
            problems.Add(headerAt, $"The header names the column \"{repeated}\" more than once.");
        foreach (var missing in Required.Where(c => !columns.Contains(c)))
            problems.Add(headerAt, $"The header lacks the column \"{missing}\"; the columns are {ColumnsDescribed}.");
        if (problems.Any)
            return ([], records.Count - 1);

        var rows = new List<Row>();
        foreach (var record in records.Skip(1))
        {
            var location = $"line {record.Line}";
            if (record.Problem is not null)
            {
                problems.Add(location, record.Problem);
                continue;
            }

            // A row may leave out trailing optional columns (status), nothing else.
            var missingRequired = columns.Skip(record.Fields.Count).Any(Required.Contains);
            if (record.Fields.Count > columns.Count || missingRequired)
            {
                problems.Add(location, $"The row has {record.Fields.Count} values but the header names {columns.Count} columns" +
                                       (record.Fields.Count > columns.Count ? " (a value containing a comma must be enclosed in double quotes)." : "."));
                continue;
            }

            var values = new Dictionary<string, string?>();
            for (var i = 0; i < columns.Count; i++)
                values[columns[i]] = i < record.Fields.Count ? record.Fields[i] : null;
            rows.Add(new Row(location, values));
        }

        return (rows, records.Count - 1);
    }

    // ---- JSON -----------------------------------------------------------------------------------------------------

    private static (List<Row> Rows, int Models) ReadJson(string text, Problems problems)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            problems.Add(WholeFile, $"The file is not valid JSON (near line {(e.LineNumber ?? 0) + 1}, position {(e.BytePositionInLine ?? 0) + 1}).");
            return ([], 0);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                problems.Add(WholeFile, "A JSON catalogue file is an array of objects: " +
                                        "[{\"code\": \"EOS-R5\", \"name\": \"EOS R5\", \"category\": \"camera_body\", \"points\": 340, \"status\": \"listed\"}].");
                return ([], 0);
            }

            var rows = new List<Row>();
            var item = 0;
            foreach (var element in document.RootElement.EnumerateArray())
            {
                var location = $"item {++item}";
                if (element.ValueKind != JsonValueKind.Object)
                {
                    problems.Add(location, $"Must be an object with the fields {ColumnsDescribed}.");
                    continue;
                }

                var values = new Dictionary<string, string?>();
                var reported = new HashSet<string>();
                foreach (var property in element.EnumerateObject())
                {
                    var name = property.Name.ToLowerInvariant();
                    if (!Columns.Contains(name))
                    {
                        problems.Add(location, $"Unknown field \"{property.Name}\"; the fields are {ColumnsDescribed}.");
                        continue;
                    }

                    if (values.ContainsKey(name))
                    {
                        problems.Add(location, $"The field \"{name}\" is given more than once.");
                        continue;
                    }

                    values[name] = (name, property.Value.ValueKind) switch
                    {
                        (_, JsonValueKind.Null) => null,
                        ("points", JsonValueKind.Number) => property.Value.GetRawText(),
                        ("points", _) => TypeProblem(location, name, $"Points must be a number (a whole number from 0 to {MaxPoints})."),
                        (_, JsonValueKind.String) => property.Value.GetString(),
                        _ => TypeProblem(location, name, $"{char.ToUpperInvariant(name[0])}{name[1..]} must be a string."),
                    };
                }

                rows.Add(new Row(location, values, reported));

                string? TypeProblem(string at, string column, string message)
                {
                    problems.Add(at, message);
                    reported.Add(column);
                    return null;
                }
            }

            return (rows, item);
        }
    }

    /// <summary>Problems in the order found, several per location.</summary>
    private sealed class Problems
    {
        private readonly Dictionary<string, List<string>> _byLocation = [];

        public bool Any => _byLocation.Count > 0;

        public void Add(string location, string problem)
        {
            if (!_byLocation.TryGetValue(location, out var list))
                _byLocation[location] = list = [];
            list.Add(problem);
        }

        public int CountAt(string location) => _byLocation.TryGetValue(location, out var list) ? list.Count : 0;

        /// <summary>In file order: the whole file first, then by line or item number.</summary>
        public Dictionary<string, string[]> ToDictionary() => _byLocation
            .OrderBy(p => p.Key == WholeFile ? -1 : int.Parse(p.Key[(p.Key.IndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
            .ToDictionary(p => p.Key, p => p.Value.ToArray());
    }
}
