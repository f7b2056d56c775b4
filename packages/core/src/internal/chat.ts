import * as Chat from "../Chat.js"

/**
 * A chat with some fields replaced, without re-running the schema's checks: the engine builds chats only from
 * parts that are already valid, many times per item, and the checks were a measurable share of its CPU.
 */
export const copyChat = (chat: Chat.Chat, patch: Partial<Chat.Fields>): Chat.Chat =>
  new Chat.Chat({ ...chat, ...patch }, { disableChecks: true })

/** A new chat from valid parts, without re-running the schema's checks (see {@link copyChat}). */
export const makeChat = (fields: Chat.Fields): Chat.Chat => new Chat.Chat(fields, { disableChecks: true })
