package io.batchagent.cli;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/**
 * How {@code batchagent} reports an error: one line on stderr, {@code <command>: <what and what to do>}.
 *
 * <ul>
 *   <li>A user error exits {@link BatchAgentCommand#EXIT_USAGE}: a bad option or argument, an
 *       {@link IllegalArgumentException} (the project's checks name the file, line, key or field),
 *       or a file that cannot be read.
 *   <li>Anything else exits {@link BatchAgentCommand#EXIT_ERROR}, with the exception's class and
 *       message.
 * </ul>
 *
 * The stack trace is printed only with {@code --verbose}. Stateless.
 */
final class CliErrors implements CommandLine.IParameterExceptionHandler, CommandLine.IExecutionExceptionHandler {

    private static final String VERBOSE = "--verbose";

    @Override
    public int handleParseException(CommandLine.ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        PrintWriter err = command.getErr();
        if (Arrays.asList(args).contains(VERBOSE)) {
            e.printStackTrace(err);
        }
        String name = command.getCommandSpec().qualifiedName();
        err.println(name + ": " + oneLine(e.getMessage()) + " (see '" + name + " --help')");
        err.flush();
        return BatchAgentCommand.EXIT_USAGE;
    }

    @Override
    public int handleExecutionException(Exception e, CommandLine command, ParseResult parseResult) {
        PrintWriter err = command.getErr();
        boolean verbose = verbose(parseResult);
        if (verbose) {
            e.printStackTrace(err);
        }
        String name = command.getCommandSpec().qualifiedName();
        String userError = userError(e);
        if (userError != null) {
            err.println(name + ": " + oneLine(userError));
            err.flush();
            return BatchAgentCommand.EXIT_USAGE;
        }
        err.println(name + ": " + oneLine(e.getClass().getSimpleName() + ": " + e.getMessage())
                + (verbose ? "" : " (" + VERBOSE + " shows the stack trace)"));
        err.flush();
        return BatchAgentCommand.EXIT_ERROR;
    }

    /** The message of a user error, or null when {@code e} is not one. */
    static String userError(Throwable e) {
        Throwable cause = e instanceof UncheckedIOException unchecked ? unchecked.getCause() : e;
        if (cause instanceof IllegalArgumentException) {
            return cause.getMessage();
        }
        if (cause instanceof NoSuchFileException missing) {
            return missing.getFile() + ": no such file";
        }
        if (cause instanceof AccessDeniedException denied) {
            return denied.getFile() + ": permission denied";
        }
        if (cause instanceof FileSystemException fs) {
            return fs.getFile() + ": " + (fs.getReason() == null ? fs.getClass().getSimpleName() : fs.getReason());
        }
        return null;
    }

    private static boolean verbose(ParseResult result) {
        for (ParseResult r = result; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    /** The first line of {@code message}: every error is one line. */
    static String oneLine(String message) {
        if (message == null || message.isBlank()) {
            return "failed";
        }
        return message.strip().lines().findFirst().orElse("").strip();
    }
}
