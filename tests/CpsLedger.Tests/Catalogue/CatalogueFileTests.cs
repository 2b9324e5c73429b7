using System.Text;
using CpsLedger.Api.Catalogue;

namespace CpsLedger.Tests.Catalogue;

/// <summary>Reading and checking catalogue files (CSV and JSON), without a database.</summary>
public sealed class CatalogueFileTests
{
    private const string Header = "code,name,category,points,status";

    private static CatalogueFileReading Csv(params string[] lines) => CatalogueFile.Read(string.Join("\n", lines), CatalogueFileFormat.Csv);

    private static CatalogueFileReading Json(string json) => CatalogueFile.Read(json, CatalogueFileFormat.Json);

    private static string[] ProblemsAt(CatalogueFileReading reading, string location)
    {
        Assert.False(reading.Accepted, "the file was accepted");
        Assert.True(reading.Problems.TryGetValue(location, out var problems),
            $"no problem at {location}; problems: {string.Join(" | ", reading.Problems.Select(p => $"{p.Key}: {string.Join(" ", p.Value)}"))}");
        return problems!;
    }

    private static string OnlyProblemAt(CatalogueFileReading reading, string location)
    {
        Assert.Equal([location], reading.Problems.Keys);
        return Assert.Single(ProblemsAt(reading, location));
    }

    [Fact]
    public void A_valid_csv_file_gives_one_tidied_entry_per_row()
    {
        var reading = Csv(
            Header,
            "EOS-R5,EOS R5,camera_body,340,listed",
            " ef-40-stm , EF 40mm f/2.8 STM ,Lens,15,",
            "eos-1dx,EOS-1D X,camera_body,450,WITHDRAWN");

        Assert.True(reading.Accepted);
        Assert.Equal(
            [
                new CatalogueEntry("line 2", "EOS-R5", "EOS R5", "camera_body", 340, CatalogueEntryStatus.Listed),
                new CatalogueEntry("line 3", "EF-40-STM", "EF 40mm f/2.8 STM", "lens", 15, CatalogueEntryStatus.Listed),
                new CatalogueEntry("line 4", "EOS-1DX", "EOS-1D X", "camera_body", 450, CatalogueEntryStatus.Withdrawn),
            ],
            reading.Entries);
    }

    [Fact]
    public void Quoted_values_may_hold_commas_quotes_and_surrounding_spaces()
    {
        var reading = Csv(
            Header,
            "A1,\"Speedlite, the \"\"big\"\" one\",flash,75,listed",
            "A2, \"Lens, quoted after a space\" ,lens,\"15\",\"\"");

        Assert.True(reading.Accepted, string.Join(" ", reading.Problems.SelectMany(p => p.Value)));
        Assert.Equal(["Speedlite, the \"big\" one", "Lens, quoted after a space"], reading.Entries.Select(e => e.Name));
        Assert.Equal((15, CatalogueEntryStatus.Listed), (reading.Entries[1].Points, reading.Entries[1].Status));

        // An empty quoted value is as empty as an unquoted one.
        Assert.Equal("Name is missing.", OnlyProblemAt(Csv(Header, "A3,\"\",lens,1,"), "line 2"));
    }

    [Fact]
    public void Comments_blank_lines_crlf_and_a_byte_order_mark_are_accepted_and_line_numbers_stay_true()
    {
        var text = "# ILLUSTRATIVE\r\n# second comment\r\n\r\ncode,name,category,points\r\n\r\nA1,One,lens,1\r\n,,,\r\n# between\r\nA2,Two,lens,2\r\n";
        var reading = CatalogueFile.Read(Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(text)).ToArray(), CatalogueFileFormat.Csv);

        Assert.True(reading.Accepted, string.Join(" ", reading.Problems.Keys));
        Assert.Equal(["line 6", "line 9"], reading.Entries.Select(e => e.Location));
    }

    [Fact]
    public void A_line_break_inside_a_quoted_name_is_reported_and_later_line_numbers_count_it()
    {
        var reading = Csv(Header, "A1,\"two", "lines\",lens,1,", "A2,Fine,lens,-1,");

        Assert.Equal("Name must be one line of text (no line breaks or control characters).", Assert.Single(ProblemsAt(reading, "line 2")));
        Assert.Equal("Points must be a whole number from 0 to 100000, not \"-1\".", Assert.Single(ProblemsAt(reading, "line 4")));
    }

    [Fact]
    public void Columns_may_come_in_any_order_and_case_and_status_may_be_left_out()
    {
        var reading = Csv(" Points ,CODE,Category,Name", "5,A1,lens,Lens one");
        Assert.Equal(new CatalogueEntry("line 2", "A1", "Lens one", "lens", 5, CatalogueEntryStatus.Listed), Assert.Single(reading.Entries));

        // With a status column, a row may still leave its trailing status out.
        var shortRow = Csv(Header, "A1,Lens one,lens,5");
        Assert.Equal(CatalogueEntryStatus.Listed, Assert.Single(shortRow.Entries).Status);
    }

    [Theory]
    [InlineData(",EOS R5,camera_body,1,", "Code is missing.")]
    [InlineData("   ,EOS R5,camera_body,1,", "Code is missing.")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-ABC,EOS R5,camera_body,1,", "Code is longer than 40 characters.")]
    [InlineData("EOS/R5,EOS R5,camera_body,1,", "Code \"EOS/R5\" contains '/'; a code has only letters, digits, spaces and - _ .")]
    [InlineData("ÉOS-R5,EOS R5,camera_body,1,", "Code \"ÉOS-R5\" contains 'É'; a code has only letters, digits, spaces and - _ .")]
    [InlineData("EOS-R5,,camera_body,1,", "Name is missing.")]
    // What the API refuses in any text it reads, a name in a file must not slip in either: it is shown in the portal and printed.
    [InlineData("EOS-R5,EOS \u202ER5,camera_body,1,", "Name must not contain bidirectional control characters (found U+202E at position 5).")]
    [InlineData("EOS-R5,\u200B,camera_body,1,", "Name must not be empty or blank: it holds only invisible characters (U+200B at position 1).")]
    [InlineData("EOS-R5,EOS R5,,1,", "Category is missing.")]
    [InlineData("EOS-R5,EOS R5,cameras,1,", "Category \"cameras\" is not one of: camera_body, lens, cinema_camera, cinema_lens, camcorder, ptz_camera, flash, printer, projector, scanner, accessory.")]
    [InlineData("EOS-R5,EOS R5,camera_body,,", "Points are missing.")]
    [InlineData("EOS-R5,EOS R5,camera_body,many,", "Points must be a whole number from 0 to 100000, not \"many\".")]
    [InlineData("EOS-R5,EOS R5,camera_body,2.5,", "Points must be a whole number from 0 to 100000, not \"2.5\".")]
    [InlineData("EOS-R5,EOS R5,camera_body,-1,", "Points must be a whole number from 0 to 100000, not \"-1\".")]
    [InlineData("EOS-R5,EOS R5,camera_body,100001,", "Points must be a whole number from 0 to 100000, not \"100001\".")]
    [InlineData("EOS-R5,EOS R5,camera_body,99999999999,", "Points must be a whole number from 0 to 100000, not \"99999999999\".")]
    [InlineData("EOS-R5,EOS R5,camera_body,1,retired", "Status must be \"listed\" or \"withdrawn\" (or empty for listed), not \"retired\".")]
    public void Each_rule_names_the_line_and_the_reason(string row, string problem)
    {
        var reading = Csv(Header, "OK-1,Fine,lens,1,", row);
        Assert.Equal(problem, OnlyProblemAt(reading, "line 3"));
        Assert.Empty(reading.Entries);
    }

    [Theory]
    [InlineData("EOS-R5", "0")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-AB", "100000")]
    [InlineData("rf 24-70_f2.8.l", "15")]
    public void Boundary_values_are_accepted(string code, string points)
    {
        var reading = Csv(Header, $"{code},{new string('n', 200)},lens,{points},");
        Assert.True(reading.Accepted, string.Join(" ", reading.Problems.SelectMany(p => p.Value)));
    }

    [Fact]
    public void A_name_over_200_characters_is_refused()
    {
        var reading = Csv(Header, $"A1,{new string('n', 201)},lens,1,");
        Assert.Equal("Name is longer than 200 characters.", OnlyProblemAt(reading, "line 2"));
    }

    [Fact]
    public void Every_bad_row_is_reported_with_all_its_reasons_and_nothing_is_accepted()
    {
        var reading = Csv(
            Header,
            "A1,Good,lens,1,",
            ",,nope,x,maybe",
            "A2,Good too,lens,2,",
            "A3,Bad points,lens,-5,");

        Assert.Equal(["line 3", "line 5"], reading.Problems.Keys);
        Assert.Equal(5, ProblemsAt(reading, "line 3").Length);
        Assert.Empty(reading.Entries);
    }

    [Fact]
    public void A_code_may_appear_only_once_compared_trimmed_and_in_upper_case()
    {
        var reading = Csv(Header, "EOS-R5,EOS R5,camera_body,340,", "A1,Other,lens,1,", " eos-r5 ,EOS R5 again,camera_body,1,");
        Assert.Equal("Code \"EOS-R5\" is already on line 2; a code may appear only once in a file.", OnlyProblemAt(reading, "line 4"));

        // Also when either row has other problems: both are reported in one go.
        var alsoBad = Csv(Header, "EOS-R5,EOS R5,camera_body,many,", "eos-r5,,camera_body,1,");
        Assert.Equal(["Points must be a whole number from 0 to 100000, not \"many\"."], ProblemsAt(alsoBad, "line 2"));
        Assert.Equal(["Name is missing.", "Code \"EOS-R5\" is already on line 2; a code may appear only once in a file."], ProblemsAt(alsoBad, "line 3"));
    }

    [Fact]
    public void Empty_files_and_files_without_models_are_refused()
    {
        Assert.Equal("The file is empty.", OnlyProblemAt(Csv(""), "file"));
        Assert.Equal("The file is empty.", OnlyProblemAt(Csv("  ", "\t", ""), "file"));
        Assert.Equal("The file is empty.", OnlyProblemAt(Json(" "), "file"));
        Assert.Equal("The file lists no product models.", OnlyProblemAt(Csv(Header, ""), "file"));
        Assert.Equal("The file lists no product models.", OnlyProblemAt(Csv("# only a comment"), "file"));
        Assert.Equal("The file lists no product models.", OnlyProblemAt(Json("[]"), "file"));
    }

    [Fact]
    public void A_file_with_more_models_than_the_limit_is_refused_as_a_whole()
    {
        var rows = Enumerable.Range(1, CatalogueFile.MaxModels + 1).Select(i => $"M{i},Model {i},lens,{i % 100},");
        var reading = Csv([Header, .. rows]);
        Assert.Equal("The file lists 5001 product models; at most 5000 can be imported at once. Split it into several files.",
            OnlyProblemAt(reading, "file"));

        Assert.True(Csv([Header, .. rows.Take(CatalogueFile.MaxModels)]).Accepted);
    }

    [Fact]
    public void A_missing_or_wrong_header_is_reported_on_its_line()
    {
        Assert.StartsWith("The first line must be the header row naming the columns",
            OnlyProblemAt(Csv("# comment", "EOS-R5,EOS R5,camera_body,340"), "line 2"));

        var wrong = Csv("code,name,category,pionts,status,status");
        Assert.Equal(
            [
                "The header names an unknown column \"pionts\"; the columns are code, name, category, points and optionally status.",
                "The header names the column \"status\" more than once.",
                "The header lacks the column \"points\"; the columns are code, name, category, points and optionally status.",
            ],
            ProblemsAt(wrong, "line 1"));
    }

    [Fact]
    public void A_row_with_too_many_or_too_few_values_says_so()
    {
        var reading = Csv(Header, "EF-40-STM,EF 40mm f/2.8, STM,lens,15,listed", "A1,Name,lens");
        Assert.Equal("The row has 6 values but the header names 5 columns (a value containing a comma must be enclosed in double quotes).",
            Assert.Single(ProblemsAt(reading, "line 2")));
        Assert.Equal("The row has 3 values but the header names 5 columns.", Assert.Single(ProblemsAt(reading, "line 3")));
    }

    [Fact]
    public void Quoting_mistakes_are_reported_on_their_line_and_the_lines_after_them_are_still_checked()
    {
        var reading = Csv(
            Header,
            "A1,EF 40mm \"pancake\",lens,15,",
            "A2,\"Closed\" early,lens,15,",
            "A3,Fine,lens,nope,",
            "A4,\"never closed,lens,15,",
            "A5,Fine,lens,1,");

        Assert.StartsWith("A quote inside value 2 that is not enclosed in quotes", Assert.Single(ProblemsAt(reading, "line 2")));
        Assert.StartsWith("Unexpected text after the closing quote of value 2", Assert.Single(ProblemsAt(reading, "line 3")));
        Assert.Single(ProblemsAt(reading, "line 4"));
        Assert.Equal("A quoted value starting on this line is never closed (a missing \").", Assert.Single(ProblemsAt(reading, "line 5")));
    }

    [Fact]
    public void A_stray_quote_that_runs_on_over_line_breaks_is_reported_on_its_line_and_ends_the_reading()
    {
        // A quote opens a quoted part wherever it stands (as Sep reads CSV): unmatched on its line, the next lines are part of the
        // value, so nothing after it can be checked.
        var reading = Csv(Header, "A1,Fine,lens,1,", "A2,5\" screen,lens,1,", "A3,Fine,lens,nope,");
        Assert.Equal("A quote inside value 2 that is not enclosed in quotes; enclose the value in double quotes and write the quote twice (\"\").",
            OnlyProblemAt(reading, "line 3"));

        // In a comment, a lone quote is just text.
        Assert.True(Csv("# 5\" screens", Header, "A1,Fine,lens,1,").Accepted);
    }

    [Fact]
    public void A_file_that_is_not_utf8_is_refused()
    {
        var latin1 = Encoding.Latin1.GetBytes("code,name,category,points\nA1,Objectif \u00e9tanche,lens,1\n");
        // Where the byte is, as a spreadsheet's Latin-1 export has it: the line and the text before it on that line.
        Assert.Equal("The file is not UTF-8 text: line 2 has a byte that is not UTF-8 after \"A1,Objectif \" (was it saved as Latin-1 or " +
                     "Windows-1252?). Save it as UTF-8 (in a spreadsheet: \"CSV UTF-8\") and import it again.",
            OnlyProblemAt(CatalogueFile.Read(latin1, CatalogueFileFormat.Csv), "file"));
        // A sequence cut short at the very end of the file, after a line break (CRLF counts as one).
        var cut = Encoding.UTF8.GetBytes("code,name,category,points\r\nA1,One,lens,1\r\n").Append((byte)0xC3).ToArray();
        Assert.StartsWith("The file is not UTF-8 text: line 3 has a byte that is not UTF-8 at its start ", OnlyProblemAt(CatalogueFile.Read(cut, CatalogueFileFormat.Csv), "file"));
    }

    [Fact]
    public void A_valid_json_file_gives_one_entry_per_item()
    {
        var reading = Json("""
            [
              { "code": "eos-r5", "name": "EOS R5", "category": "camera_body", "points": 340 },
              { "code": "EOS-1DX", "name": "EOS-1D X", "category": "camera_body", "points": 450, "status": "withdrawn" },
              { "Code": "A1", "Name": "One", "Category": "lens", "Points": 1, "status": null },
            ]
            """);

        Assert.True(reading.Accepted, string.Join(" ", reading.Problems.SelectMany(p => p.Value)));
        Assert.Equal(
            [
                new CatalogueEntry("item 1", "EOS-R5", "EOS R5", "camera_body", 340, CatalogueEntryStatus.Listed),
                new CatalogueEntry("item 2", "EOS-1DX", "EOS-1D X", "camera_body", 450, CatalogueEntryStatus.Withdrawn),
                new CatalogueEntry("item 3", "A1", "One", "lens", 1, CatalogueEntryStatus.Listed),
            ],
            reading.Entries);
    }

    [Fact]
    public void Json_items_are_checked_by_the_same_rules_and_reported_by_item_number()
    {
        var reading = Json("""
            [
              { "code": "A1", "name": "One", "category": "lens", "points": 1 },
              { "code": "A2", "name": "Two", "category": "lens", "points": "15" },
              { "code": "A3", "name": 3, "category": "lens", "points": 12.5 },
              "A4,Four,lens,4",
              { "code": "A5", "name": "Five", "category": "lens", "points": 5, "pionts": 5, "code": "A6" },
              { "code": "a1", "name": "One again", "category": "lens", "points": 1 },
              { "name": "Six", "category": "lens", "points": 6, "status": true }
            ]
            """);

        Assert.Equal(["item 2", "item 3", "item 4", "item 5", "item 6", "item 7"], reading.Problems.Keys);
        Assert.Equal(["Points must be a number (a whole number from 0 to 100000)."], ProblemsAt(reading, "item 2"));
        Assert.Equal(["Name must be a string.", "Points must be a whole number from 0 to 100000, not \"12.5\"."], ProblemsAt(reading, "item 3"));
        Assert.Equal(["Must be an object with the fields code, name, category, points and optionally status."], ProblemsAt(reading, "item 4"));
        Assert.Equal(
            [
                "Unknown field \"pionts\"; the fields are code, name, category, points and optionally status.",
                "The field \"code\" is given more than once.",
            ],
            ProblemsAt(reading, "item 5"));
        Assert.Equal(["Code \"A1\" is already on item 1; a code may appear only once in a file."], ProblemsAt(reading, "item 6"));
        Assert.Equal(["Status must be a string.", "Code is missing."], ProblemsAt(reading, "item 7"));
    }

    [Theory]
    [InlineData("{\"code\": \"A1\"}", "A JSON catalogue file is an array of objects")]
    [InlineData("[{\"code\": \"A1\",", "The file is not valid JSON (near line 1")]
    [InlineData("code,name,category,points", "The file is not valid JSON (near line 1")]
    public void A_json_file_that_is_not_an_array_of_objects_is_refused_as_a_whole(string json, string problem) =>
        Assert.StartsWith(problem, OnlyProblemAt(Json(json), "file"));

    [Theory]
    [InlineData("text/csv", CatalogueFileFormat.Csv)]
    [InlineData("text/csv; charset=utf-8", CatalogueFileFormat.Csv)]
    [InlineData("Application/JSON", CatalogueFileFormat.Json)]
    [InlineData("application/vnd.catalogue+json", CatalogueFileFormat.Json)]
    [InlineData("text/plain", null)]
    [InlineData("application/x-www-form-urlencoded", null)]
    [InlineData(null, null)]
    public void The_content_type_names_the_format(string? contentType, CatalogueFileFormat? format) =>
        Assert.Equal(format, CatalogueFile.FormatOfContentType(contentType));

    [Theory]
    [InlineData("/tmp/catalogue.csv", CatalogueFileFormat.Csv)]
    [InlineData("catalogue.JSON", CatalogueFileFormat.Json)]
    [InlineData("catalogue.txt", null)]
    [InlineData("catalogue", null)]
    public void The_file_extension_names_the_format(string path, CatalogueFileFormat? format) =>
        Assert.Equal(format, CatalogueFile.FormatOfFileName(path));
}
