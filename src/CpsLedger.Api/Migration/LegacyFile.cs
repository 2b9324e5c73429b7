using System.Globalization;
using System.Text;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;

namespace CpsLedger.Api.Migration;

/// <summary>One valid row of a legacy file: an old account and, unless the row names no model, one of its products.</summary>
/// <param name="OldEmail">Trimmed and lower-case.</param>
public sealed record LegacyRow(int Line, string OldEmail, string OldMembershipNumber, LegacyProductDetails? Product);

/// <summary>A row (or, at line 0, the whole file) that cannot be imported, and why.</summary>
public sealed record LegacyRowProblem(int Line, string Problem)
{
    public string Location => Line == 0 ? LegacyFile.WholeFile : $"line {Line}";
}

/// <summary>
/// The legacy file format: CSV (UTF-8, RFC 4180 quoting), one row per legacy product, read as a stream so that a file of
/// millions of rows never has to be in memory.
/// <para>
/// Header row naming the columns (any order, any case): <c>old_email</c>, <c>old_membership_number</c>, <c>model_code</c>,
/// and optionally <c>serial_number</c>, <c>purchase_date</c>, <c>country_of_purchase</c>, <c>dealer</c>. Lines starting with
/// <c>#</c> are comments; blank lines are skipped. Every row has a value for each column the header names (no more, no fewer); an
/// empty cell is a detail the old system did not have. A row with an empty <c>model_code</c> and no other product cell is an old
/// account without products.
/// </para>
/// <para>
/// Rows: old e-mail a valid address (compared trimmed and lower-case); old membership number 1 to 40 letters, digits, spaces
/// and <c>- / .</c>, the same on every row of one e-mail (and the same as an earlier import of it); model code 1 to 40
/// letters, digits, spaces and <c>- _ .</c> (whether the catalogue knows it is checked at migration, not here); serial
/// number as a registration accepts it; purchase date <c>yyyy-MM-dd</c>, from 1950 and not in the future; country of
/// purchase an ISO 3166-1 alpha-2 code (case-insensitive); dealer at most 200 characters on one line. One e-mail lists a
/// model and serial at most once.
/// </para>
/// </summary>
public static class LegacyFile
{
    public const string WholeFile = "file";
    public const int MaxRowCharacters = 8 * 1024;
    public const int MaxMembershipNumberLength = 40;
    public const int MaxCodeLength = 40;

    public const string Email = "old_email";
    public const string MembershipNumber = "old_membership_number";
    public const string ModelCode = "model_code";
    public const string Serial = "serial_number";
    public const string PurchaseDate = "purchase_date";
    public const string Country = "country_of_purchase";
    public const string Dealer = "dealer";

    public const string Header = $"{Email},{MembershipNumber},{ModelCode},{Serial},{PurchaseDate},{Country},{Dealer}";

    private static readonly string[] Required = [Email, MembershipNumber, ModelCode];
    private static readonly string[] Columns = [.. Required, Serial, PurchaseDate, Country, Dealer];

    // Reads a byte that is not UTF-8 as the noncharacter U+FDD0, which Read refuses with the line and column it is in: a file saved
    // in another encoding is refused instead of garbled. (Throwing instead could only say how far the reading had got: the reader
    // decodes 64 KiB ahead of the row being read, so a Latin-1 "ü" on line 3 was reported "at or after line 1".) Not U+FFFD: a
    // replacement character the old system itself held (a dealer "Foto M�ller") is valid UTF-8 and imported as it is; until
    // 2026-12-07 it was refused as a byte that is not UTF-8. A noncharacter is never text, so one in the file is refused the same.
    private const char NotUtf8Mark = '\uFDD0';

    private static readonly UTF8Encoding Utf8 = (UTF8Encoding)Encoding.GetEncoding("utf-8", EncoderFallback.ExceptionFallback,
        new DecoderReplacementFallback(NotUtf8Mark.ToString()));

    public static TextReader OpenText(Stream stream) =>
        new StreamReader(stream, Utf8, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: false);

    /// <summary>
    /// Reads the file once: every row, valid (<see cref="LegacyRow"/>) or not (its problems), in file order. A problem with the
    /// file as a whole (no header, not UTF-8, a quote never closed) ends the reading with a problem at line 0.
    /// </summary>
    public static IEnumerable<(LegacyRow? Row, IReadOnlyList<LegacyRowProblem> Problems)> Read(TextReader text, DateOnly latestPurchaseDate)
    {
        var reading = CsvRecords.Read(text, MaxRowCharacters);
        using var records = reading.GetEnumerator();
        var columns = (int[]?)null;
        IReadOnlyList<string> headerNames = [];
        var headerWidth = 0;
        var rows = 0;
        while (true)
        {
            CsvRecord? record;
            string? fileProblem = null;
            try
            {
                record = records.MoveNext() ? records.Current : null;
            }
            catch (DecoderFallbackException)
            {
                record = null;
                fileProblem = $"The file is not UTF-8 text (an invalid byte at or after line {reading.Line}). Save it as UTF-8 and import it again.";
            }

            if (fileProblem is not null)
            {
                yield return (null, [new LegacyRowProblem(0, fileProblem)]);
                yield break;
            }

            if (record is null)
            {
                if (columns is null)
                    yield return (null, [new LegacyRowProblem(0, $"The file is empty: it needs the header row \"{Header}\" and a row per legacy product.")]);
                else if (rows == 0)
                    // A header alone is an export that went wrong (a filter, the wrong sheet), not an old system without accounts.
                    yield return (null, [new LegacyRowProblem(0, "The file has its header row and no rows after it: there is nothing to import " +
                                                                 "(was the export filtered, or the wrong sheet saved?).")]);
                yield break;
            }

            if (record.FileProblem is not null)
            {
                yield return (null, [new LegacyRowProblem(0, $"Line {record.Line}: {record.FileProblem}")]);
                yield break;
            }

            if (NotUtf8(record, headerNames) is { } notUtf8)
            {
                yield return (null, [new LegacyRowProblem(0, notUtf8)]);
                yield break;
            }

            if (columns is null)
            {
                var headerProblems = ReadHeader(record, out columns);
                headerNames = Named(record);
                headerWidth = record.Fields.Count;
                if (headerProblems.Count > 0)
                {
                    // Without a usable header no row can be read: problems of the file as a whole.
                    yield return (null, [.. headerProblems.Select(p => new LegacyRowProblem(0, $"Line {p.Line}: {p.Problem}"))]);
                    yield break;
                }

                continue;
            }

            rows++;
            if (record.Problem is not null)
            {
                yield return (null, [new LegacyRowProblem(record.Line, record.Problem)]);
                continue;
            }

            // Held to the header's own columns (not the format's seven): an extra value is refused rather than dropped, and a row cut
            // short (a file that stops mid-row) rather than imported with its last details missing.
            if (record.Fields.Count > headerWidth)
            {
                var header = headerWidth == headerNames.Count
                    ? $"the header names {headerWidth} columns"
                    : $"the header has {headerWidth} columns, {headerNames.Count} of them named";
                yield return (null, [new LegacyRowProblem(record.Line, $"The row has {record.Fields.Count} values but {header} " +
                                                                       "(a value containing a comma must be enclosed in double quotes).")]);
                continue;
            }

            // The columns a spreadsheet adds after the last named one hold nothing: a value there would be lost, so it is refused.
            if (record.Fields.Skip(headerNames.Count).Select((value, i) => (Value: value.Trim(), At: headerNames.Count + i + 1))
                    .FirstOrDefault(v => v.Value.Length > 0) is { Value.Length: > 0 } unnamed)
            {
                yield return (null, [new LegacyRowProblem(record.Line, $"Value {unnamed.At} (\"{Shorten(unnamed.Value)}\") is in a column the header " +
                                                                       "does not name; name the column or remove the value.")]);
                continue;
            }

            if (record.Fields.Count < headerNames.Count)
            {
                var lacking = headerNames.Skip(record.Fields.Count).ToList();
                var named = lacking.Count == 1 ? $"{lacking[0]} has" : $"{string.Join(", ", lacking[..^1])} and {lacking[^1]} have";
                yield return (null, [new LegacyRowProblem(record.Line, $"The row has {record.Fields.Count} values but the header names " +
                                                                       $"{headerNames.Count} columns: {named} none (is the row cut short? A detail " +
                                                                       "the old system did not have is written as an empty value, not left out).")]);
                continue;
            }

            yield return Check(record, columns, latestPurchaseDate);
        }
    }

    /// <summary>Column positions by <see cref="Columns"/> index (-1: absent).</summary>
    private static List<LegacyRowProblem> ReadHeader(CsvRecord header, out int[] columns)
    {
        var problems = new List<LegacyRowProblem>();
        columns = Enumerable.Repeat(-1, Columns.Length).ToArray();
        if (header.Problem is not null)
        {
            problems.Add(new LegacyRowProblem(header.Line, header.Problem));
            return problems;
        }

        var names = Named(header);
        if (!names.Any(Columns.Contains))
        {
            // A spreadsheet saved with its list separator (a semicolon in much of Europe) or as tab-separated text: one field.
            foreach (var (separator, named) in new[] { (';', "semicolons"), ('\t', "tabs") })
            {
                if (header.Fields.Count == 1 && header.Fields[0].Split(separator).Any(f => Columns.Contains(f.Trim().ToLowerInvariant())))
                {
                    problems.Add(new LegacyRowProblem(header.Line, $"The values are separated by {named}; the legacy file separates them " +
                                                                   $"with commas (save it as CSV, comma-separated). The columns are {Header}."));
                    return problems;
                }
            }

            problems.Add(new LegacyRowProblem(header.Line, $"The first line must be the header row naming the columns, e.g. \"{Header}\"; " +
                                                           $"found \"{Shorten(string.Join(",", header.Fields))}\"."));
            return problems;
        }

        for (var i = 0; i < names.Count; i++)
        {
            var index = Array.IndexOf(Columns, names[i]);
            if (names[i].Length == 0)
                problems.Add(new LegacyRowProblem(header.Line, $"The header names no column at position {i + 1}; the columns are {Header}."));
            else if (index < 0)
                problems.Add(new LegacyRowProblem(header.Line, $"The header names an unknown column \"{Shorten(names[i])}\"; the columns are {Header}."));
            else if (columns[index] >= 0)
                problems.Add(new LegacyRowProblem(header.Line, $"The header names the column \"{names[i]}\" more than once."));
            else
                columns[index] = i;
        }

        foreach (var missing in Required.Where(c => !names.Contains(c)))
            problems.Add(new LegacyRowProblem(header.Line, $"The header lacks the column \"{missing}\"; the columns are {Header}."));
        return problems;
    }

    private static (LegacyRow?, IReadOnlyList<LegacyRowProblem>) Check(CsvRecord record, int[] columns, DateOnly latestPurchaseDate)
    {
        List<LegacyRowProblem>? problems = null;
        void Problem(string problem) => (problems ??= []).Add(new LegacyRowProblem(record.Line, problem));
        string? Value(int column) =>
            columns[column] is var at && at >= 0 && at < record.Fields.Count && record.Fields[at].Trim() is { Length: > 0 } v ? v : null;

        var email = Value(0);
        if (email is null)
            Problem("Old e-mail is missing.");
        else if (EmailAddresses.InvisibleCharacter(email) is { } invisible)
            // A zero-width space or joiner, a soft hyphen...: an address nobody can type, so a member could never match it.
            Problem($"Old e-mail \"{Shorten(Visible(email))}\" contains an invisible character (U+{(int)invisible:X4}); remove it.");
        else if (email.Length > 254 || !EmailAddresses.IsValid(email))
            Problem($"Old e-mail \"{Shorten(email)}\" is not a valid e-mail address.");

        var number = Value(1);
        if (number is null)
            Problem("Old membership number is missing.");
        else if (number.Length > MaxMembershipNumberLength)
            Problem($"Old membership number is longer than {MaxMembershipNumberLength} characters.");
        // Found by index, not by FirstOrDefault: its default, '\0', is itself a character a file can hold (a NUL byte).
        else if (Array.FindIndex(number.ToCharArray(), c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '/' or '.' or ' ')) is >= 0 and var bad)
            Problem($"Old membership number \"{Shorten(LedgerJson.ControlsNamed(number))}\" contains {LedgerJson.Quoted(number[bad])}; it may have letters, digits, spaces and - / .");

        var code = Value(2);
        var serial = Value(3);
        var dateText = Value(4);
        var country = Value(5)?.ToUpperInvariant();
        var dealer = Value(6);
        if (code is null && (serial ?? dateText ?? country ?? dealer) is not null)
            Problem("Model code is missing, but the row gives product details (leave every product cell empty for an old account without products).");
        else if (code is { Length: > MaxCodeLength })
            Problem($"Model code is longer than {MaxCodeLength} characters.");
        else if (code is not null && Array.FindIndex(code.ToCharArray(), c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ' ')) is >= 0 and var badCode)
            Problem($"Model code \"{Shorten(LedgerJson.ControlsNamed(code))}\" contains {LedgerJson.Quoted(code[badCode])}; a code has only letters, digits, spaces and - _ .");

        if (serial is not null)
        {
            if (SerialNumbers.Tidy(serial).Length > MandatoryDetailRules.MaxSerialLength)
                Problem($"Serial number is longer than {MandatoryDetailRules.MaxSerialLength} characters.");
            else if (!serial.All(c => char.IsLetterOrDigit(c) || c is '-' or '/' or '.' || char.IsWhiteSpace(c)))
                Problem($"Serial number \"{Shorten(serial)}\" may contain only letters, digits, spaces and - / .");
        }

        DateOnly? date = null;
        if (dateText is not null)
        {
            if (!DateOnly.TryParseExact(dateText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
                Problem($"Purchase date \"{Shorten(dateText)}\" is not a date written yyyy-MM-dd, e.g. 2019-03-01.");
            else if (parsed > latestPurchaseDate)
                Problem($"Purchase date {dateText} is in the future.");
            else if (parsed < MandatoryDetailRules.EarliestPurchaseDate)
                Problem($"Purchase date {dateText} is before {MandatoryDetailRules.EarliestPurchaseDate:yyyy-MM-dd}.");
            else
                date = parsed;
        }

        if (country is not null && !CountryCodes.IsAssigned(country))
            Problem($"Country of purchase \"{Shorten(country)}\" is not an ISO 3166-1 alpha-2 code, e.g. \"EE\".");

        if (dealer is not null)
        {
            if (dealer.Length > MandatoryDetailRules.MaxDealerLength)
                Problem($"Dealer is longer than {MandatoryDetailRules.MaxDealerLength} characters.");
            else if (dealer.Any(char.IsControl))
                Problem("Dealer must be one line of text (no line breaks or control characters).");
            // The rest of what the API refuses in a dealer a request gives (bidirectional controls, invisible-only text).
            else if (LedgerJson.RefuseText(dealer, multiLine: false) is { } refusal)
                Problem($"Dealer {char.ToLowerInvariant(refusal[0])}{refusal[1..]}");
        }

        if (problems is not null)
            return (null, problems);

        var product = code is null
            ? null
            : new LegacyProductDetails(Catalogue.ProductModelCode.Normalize(code), serial is null ? null : SerialNumbers.Tidy(serial), date, country, dealer);
        return (new LegacyRow(record.Line, LegacyIds.NormalizeEmail(email!), number!, product), []);
    }

    /// <summary>The header's column names, trimmed and in lower case, less the unnamed columns after the last named one (a
    /// spreadsheet's trailing commas).</summary>
    private static List<string> Named(CsvRecord header)
    {
        var names = header.Fields.Select(f => f.Trim().ToLowerInvariant()).ToList();
        while (names.Count > 0 && names[^1].Length == 0)
            names.RemoveAt(names.Count - 1);
        return names;
    }

    /// <summary>Where a byte that is not UTF-8 (read as <see cref="NotUtf8Mark"/>, shown as U+FFFD) is in the record, if one is.</summary>
    private static string? NotUtf8(CsvRecord record, IReadOnlyList<string> headerNames)
    {
        for (var i = 0; i < record.Fields.Count; i++)
        {
            if (!record.Fields[i].Contains(NotUtf8Mark))
                continue;
            var column = i < headerNames.Count ? headerNames[i] : $"value {i + 1}";
            var shown = Shorten(record.Fields[i].Trim()).Replace(NotUtf8Mark, '\uFFFD');
            return $"The file is not UTF-8 text: line {record.Line}, {column} (\"{shown}\") has a byte that is not " +
                   "UTF-8 (was it saved as Latin-1 or Windows-1252?). Save it as UTF-8 and import it again.";
        }

        return null;
    }

    private static string Visible(string value) => string.Concat(value.Select(c =>
        char.GetUnicodeCategory(c) == UnicodeCategory.Format ? $"<U+{(int)c:X4}>" : c.ToString()));

    private static string Shorten(string value) => value.Length <= 60 ? value : value[..57] + "...";
}
