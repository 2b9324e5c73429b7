using System.Text;
using CpsLedger.Api.Migration;

namespace CpsLedger.Tests.Migration;

/// <summary>The legacy file format, read without a database: rows, their problems and where they are.</summary>
public sealed class LegacyFileTests
{
    private static readonly DateOnly Today = new(2026, 11, 25);

    private static List<(LegacyRow? Row, IReadOnlyList<LegacyRowProblem> Problems)> Read(string csv) =>
        [.. LegacyFile.Read(new StringReader(csv), Today)];

    private static List<string> Problems(string csv) =>
        Read(csv).SelectMany(r => r.Problems).Select(p => $"{p.Location}: {p.Problem}").ToList();

    [Fact]
    public void A_valid_row_is_tidied_and_empty_cells_are_missing_details()
    {
        var rows = Read(LegacyFiles.Csv(" Kadri.Tamm@Old.Example ,CPS-OLD-4711, eos-r5 ,\"0123   4567\",2019-03-01,ee,", "a@old.example,7,,,,,"));

        Assert.All(rows, r => Assert.Empty(r.Problems));
        var camera = rows[0].Row!;
        Assert.Equal((2, "kadri.tamm@old.example", "CPS-OLD-4711"), (camera.Line, camera.OldEmail, camera.OldMembershipNumber));
        Assert.Equal(new LegacyProductDetails("EOS-R5", "0123 4567", new DateOnly(2019, 3, 1), "EE", null), camera.Product);
        // A row with no product cells is an old account without products.
        Assert.Null(rows[1].Row!.Product);
    }

    [Fact]
    public void Every_bad_row_is_reported_with_its_line_number_and_reason()
    {
        const string Rlo = "\u202E", Zwsp = "\u200B";
        var problems = Problems($"""
            old_email,old_membership_number,model_code,serial_number,purchase_date,country_of_purchase,dealer
            # a comment, and a blank line next

            not-an-email,1,EOS-R5,,,,
            a@old.example,,EOS-R5,,,,
            a@old.example,1,,SN-1,,,
            a@old.example,1,EOS R5!,,,,
            a@old.example,1,EOS-R5,A1<script>,,,
            a@old.example,1,EOS-R5,,01.03.2019,,
            a@old.example,1,EOS-R5,,2999-01-01,,
            a@old.example,1,EOS-R5,,1900-01-01,,
            a@old.example,1,EOS-R5,,,XX,
            a@old.example,1,EOS-R5,,,,,extra
            a@old.example,1,EOS-R5,"unclosed"x,,,
            a@old.example,1,EOS-R5,,,,Photo{Rlo}point
            a@old.example,1,EOS-R5,,,,{Zwsp}
            a@old.example,1,EOS-R5,ok,2019-01-01,EE,Photopoint
            """);

        Assert.Equal([
            "line 4: Old e-mail \"not-an-email\" is not a valid e-mail address.",
            "line 5: Old membership number is missing.",
            "line 6: Model code is missing, but the row gives product details (leave every product cell empty for an old account without products).",
            "line 7: Model code \"EOS R5!\" contains '!'; a code has only letters, digits, spaces and - _ .",
            "line 8: Serial number \"A1<script>\" may contain only letters, digits, spaces and - / .",
            "line 9: Purchase date \"01.03.2019\" is not a date written yyyy-MM-dd, e.g. 2019-03-01.",
            "line 10: Purchase date 2999-01-01 is in the future.",
            "line 11: Purchase date 1900-01-01 is before 1950-01-01.",
            "line 12: Country of purchase \"XX\" is not an ISO 3166-1 alpha-2 code, e.g. \"EE\".",
            "line 13: The row has 8 values but the header names 7 columns (a value containing a comma must be enclosed in double quotes).",
            "line 14: Unexpected text after the closing quote of value 4; a quote inside a quoted value is written twice (\"\").",
            // A dealer is shown to the member as any dealer a request gives, and held to the same text rules.
            "line 15: Dealer must not contain bidirectional control characters (found U+202E at position 6).",
            "line 16: Dealer must not be empty or blank: it holds only invisible characters (U+200B at position 1).",
        ], problems);
    }

    [Fact]
    public void A_row_with_several_problems_lists_them_all()
    {
        var problems = Problems(LegacyFiles.Csv("x,,EOS-R5,,2019-13-01,e,"));
        Assert.Equal(4, problems.Count);
        Assert.All(problems, p => Assert.StartsWith("line 2: ", p));
    }

    [Fact]
    public void Columns_may_come_in_any_order_and_optional_ones_may_be_left_out()
    {
        var rows = Read("MODEL_CODE,Old_Email,old_membership_number\nEOS-R5,a@old.example,1\n");
        var row = Assert.Single(rows).Row!;
        Assert.Equal(new LegacyProductDetails("EOS-R5", null, null, null, null), row.Product);
    }

    [Fact]
    public void A_row_cut_short_is_refused_naming_the_columns_it_lacks()
    {
        // A file that stops mid-row (a copy cut off, an export interrupted) must not import the row with its last details missing.
        var problems = Problems(LegacyFiles.Csv("a@old.example,1,EOS-R5,SN-1,2019-03-01,EE,Photopoint", "b@old.example,1,EOS-R5,SN-2"));
        Assert.Equal(["line 3: The row has 4 values but the header names 7 columns: purchase_date, country_of_purchase and dealer have none " +
                      "(is the row cut short? A detail the old system did not have is written as an empty value, not left out)."],
            problems);
        // Nor an old e-mail and number alone as an old account without products.
        Assert.Equal(["line 2: The row has 2 values but the header names 7 columns: model_code, serial_number, purchase_date, country_of_purchase " +
                      "and dealer have none (is the row cut short? A detail the old system did not have is written as an empty value, not left out)."],
            Problems(LegacyFiles.Csv("b@old.example,1")));
    }

    [Fact]
    public void A_row_is_held_to_the_number_of_columns_its_own_header_names()
    {
        // A header naming three columns: a fourth value is refused, not dropped.
        var problems = Problems("old_email,old_membership_number,model_code\na@old.example,1,EOS-R5,SN-1\n");
        Assert.Equal(["line 2: The row has 4 values but the header names 3 columns (a value containing a comma must be enclosed in double quotes)."],
            problems);
    }

    [Fact]
    public void A_spreadsheets_unnamed_empty_columns_are_left_out_and_a_value_in_one_is_refused()
    {
        // Excel writes a comma after the last column when a column to its right was ever formatted: the header ends ",," and every
        // row with it. Those columns hold nothing, so nothing is lost by leaving them out.
        var rows = Read($"{LegacyFile.Header},,\na@old.example,1,EOS-R5,SN-1,2019-03-01,EE,Photopoint,,\n");
        Assert.Empty(Assert.Single(rows).Problems);
        Assert.Equal("Photopoint", rows[0].Row!.Product!.Dealer);

        Assert.Equal(["line 2: Value 8 (\"kept\") is in a column the header does not name; name the column or remove the value."],
            Problems($"{LegacyFile.Header},,\na@old.example,1,EOS-R5,SN-1,2019-03-01,EE,Photopoint,kept,\n"));
        // A name left out between named columns is still a problem of the header: the values are read by the header's names.
        Assert.Contains(Problems($"old_email,,old_membership_number,model_code\na@old.example,x,1,EOS-R5\n"),
            p => p.Contains("names no column at position 2", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(';', "semicolons")]
    [InlineData('\t', "tabs")]
    public void A_file_separated_by_semicolons_or_tabs_is_refused_saying_so(char separator, string named)
    {
        var csv = $"{LegacyFile.Header.Replace(',', separator)}\na@old.example{separator}1{separator}EOS-R5{separator}{separator}{separator}{separator}\n";
        Assert.Equal([$"file: Line 1: The values are separated by {named}; the legacy file separates them with commas (save it as CSV, comma-separated). " +
                      $"The columns are {LegacyFile.Header}."],
            Problems(csv));
    }

    [Theory]
    [InlineData("", "file: The file is empty")]
    [InlineData("old_email,old_membership_number,model_code,serial_number,purchase_date,country_of_purchase,dealer\n", "file: The file has its header row and no rows after it")]
    [InlineData("old_email,old_membership_number,model_code\r\n\r\n", "file: The file has its header row and no rows after it")]
    [InlineData("email,number\na@old.example,1\n", "file: Line 1: The first line must be the header row")]
    [InlineData("old_email,old_membership_number,model_code,colour\n", "file: Line 1: The header names an unknown column \"colour\"")]
    [InlineData("old_email,model_code\n", "file: Line 1: The header lacks the column \"old_membership_number\"")]
    [InlineData("old_email,old_membership_number,model_code\na@old.example,1,\"EOS\n", "file: Line 2: A quoted value starting on this line is never closed")]
    public void A_file_that_cannot_be_read_as_rows_is_one_problem_of_the_whole_file(string csv, string expected)
    {
        var problems = Problems(csv);
        Assert.StartsWith(expected, problems[0]);
    }

    [Fact]
    public void A_row_longer_than_the_limit_ends_the_reading_as_a_problem_of_the_file()
    {
        var dealer = new string('d', LegacyFile.MaxRowCharacters);
        Assert.Equal([$"file: Line 3: The row is longer than {LegacyFile.MaxRowCharacters} characters (is a line break missing?)."],
            Problems(LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,Photopoint", $"b@old.example,1,EOS-R5,,,,{dealer}", "c@old.example,1,EOS-R5,,,,")));

        // A quote never closed in a large file: the reading stops at the limit instead of holding the rest of the file as one value.
        var unclosed = LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,\"Photopoint") + string.Concat(Enumerable.Repeat("b@old.example,1,EOS-R5,,,,\n", 1000));
        Assert.Equal([$"file: Line 2: The row is longer than {LegacyFile.MaxRowCharacters} characters (is a closing quote missing?)."],
            Problems(unclosed));
    }

    [Fact]
    public void A_stray_quote_that_runs_on_over_line_breaks_ends_the_reading_on_its_line()
    {
        // A quote opens a quoted part wherever it stands (as Sep reads CSV); unmatched on its line, the next rows become part of the
        // value, so the file cannot be read on from there.
        var problems = Problems(LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,Photopoint", "a@old.example,1,EOS-R5,5\" lens,,,", "b@old.example,1,EOS-R5,,,,"));
        Assert.Equal(["file: Line 3: A quote inside value 4 that is not enclosed in quotes; enclose the value in double quotes and write the quote twice (\"\")."],
            problems);
    }

    [Fact]
    public void A_comment_may_hold_a_lone_quote()
    {
        var rows = Read("# 5\" of dust\n" + LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,"));
        Assert.Equal(3, Assert.Single(rows).Row!.Line);
    }

    [Fact]
    public void A_file_that_is_not_utf8_is_refused_as_a_whole()
    {
        var bytes = Encoding.UTF8.GetBytes(LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,Photopoint")).Concat(new byte[] { 0xC3, 0x28, 0x0A }).ToArray();
        using var text = LegacyFile.OpenText(new MemoryStream(bytes));
        var problems = LegacyFile.Read(text, Today).SelectMany(r => r.Problems).ToList();
        Assert.Equal("The file is not UTF-8 text: line 3, old_email (\"\uFFFD(\") has a byte that is not UTF-8 (was it saved as Latin-1 or " +
                     "Windows-1252?). Save it as UTF-8 and import it again.", Assert.Single(problems).Problem);
    }

    [Fact]
    public void A_replacement_character_the_old_system_held_is_imported_as_it_is()
    {
        // Valid UTF-8 (EF BF BD): the old system's own damage, not the file's encoding. The Latin-1 byte after it still is refused.
        var csv = LegacyFiles.Csv("a@old.example,1,EOS-R5,SN-1,2019-03-01,DE,Foto M\uFFFDller");
        using (var text = LegacyFile.OpenText(new MemoryStream(Encoding.UTF8.GetBytes(csv))))
        {
            var row = Assert.Single(LegacyFile.Read(text, Today));
            Assert.Empty(row.Problems);
            Assert.Equal("Foto M\uFFFDller", row.Row!.Product!.Dealer);
        }

        var bytes = Encoding.UTF8.GetBytes(csv).Concat(Encoding.Latin1.GetBytes("b@old.example,2,EOS-R5,SN-2,2019-03-01,DE,Foto Müller\n")).ToArray();
        using var mixed = LegacyFile.OpenText(new MemoryStream(bytes));
        Assert.Equal("The file is not UTF-8 text: line 3, dealer (\"Foto M\uFFFDller\") has a byte that is not UTF-8 (was it saved as Latin-1 or " +
                     "Windows-1252?). Save it as UTF-8 and import it again.", Assert.Single(LegacyFile.Read(mixed, Today).SelectMany(r => r.Problems)).Problem);
    }

    [Fact]
    public void A_latin1_file_is_refused_naming_the_line_and_column_of_its_first_byte_that_is_not_utf8()
    {
        // An export saved as Latin-1 by a spreadsheet: "Müller" on line 4, after rows that read as UTF-8.
        var csv = LegacyFiles.Csv("a@old.example,1,EOS-R5,SN-1,2019-03-01,EE,Photopoint", "b@old.example,2,EOS-R5,SN-2,2019-03-01,EE,Foto",
            "c@old.example,3,EOS-R5,SN-3,2019-03-01,DE,Foto Müller", "d@old.example,4,EOS-R5,SN-4,2019-03-01,EE,");
        using var text = LegacyFile.OpenText(new MemoryStream(Encoding.Latin1.GetBytes(csv)));
        var problem = Assert.Single(LegacyFile.Read(text, Today).SelectMany(r => r.Problems));
        Assert.Equal("file: The file is not UTF-8 text: line 4, dealer (\"Foto M\uFFFDller\") has a byte that is not UTF-8 (was it saved as " +
                     "Latin-1 or Windows-1252?). Save it as UTF-8 and import it again.", $"{problem.Location}: {problem.Problem}");
    }

    [Fact]
    public void Quoted_values_may_hold_commas_quotes_and_line_breaks_and_line_numbers_stay_right()
    {
        var rows = Read(LegacyFiles.Csv("a@old.example,1,EOS-R5,,,,\"Foto, \"\"Pood\"\"\"", "b@old.example,1,EOS-R5,,,,\"Two\nlines\"",
            "c@old.example,1,EOS-R5,,,,Photopoint"));

        Assert.Equal("Foto, \"Pood\"", rows[0].Row!.Product!.Dealer);
        var problem = Assert.Single(rows[1].Problems);
        Assert.Equal("line 3: Dealer must be one line of text (no line breaks or control characters).", $"{problem.Location}: {problem.Problem}");
        Assert.Equal(5, rows[2].Row!.Line);
    }

    [Fact]
    public void A_product_id_does_not_depend_on_the_machine_locale()
    {
        // A product without a serial is identified by its details, the purchase date among them: written in the process's culture,
        // a re-import on a host with LANG=th_TH.UTF-8 (the Buddhist year 2562 for 2019) made new ids, and so duplicate products.
        var lens = new LegacyProductDetails("EF-40-STM", null, new DateOnly(2019, 3, 1), "EE", "Photopoint");
        var invariant = LegacyIds.ProductFor("k@old.example", lens, 1);
        var before = System.Globalization.CultureInfo.CurrentCulture;
        System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("th-TH");
        try
        {
            Assert.Equal(invariant, LegacyIds.ProductFor("k@old.example", lens, 1));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = before;
        }
    }

    [Fact]
    public void Product_ids_are_derived_from_content_so_that_the_same_record_is_the_same_product()
    {
        var camera = new LegacyProductDetails("EOS-R5", "0123 4567", null, null, null);
        Assert.Equal(LegacyIds.ProductFor("KADRI@old.example ", camera, 1),
            LegacyIds.ProductFor("kadri@old.example", camera with { SerialNumber = "01234567", PurchaseDate = new DateOnly(2019, 1, 1) }, 2));
        var flash = new LegacyProductDetails("EOS-R5", null, null, null, null);
        Assert.NotEqual(LegacyIds.ProductFor("k@old.example", flash, 1), LegacyIds.ProductFor("k@old.example", flash, 2));
        Assert.NotEqual(LegacyIds.RegistrationFor(LegacyIds.ProductFor("k@old.example", flash, 1)), LegacyIds.ProductFor("k@old.example", flash, 1));
    }
}
